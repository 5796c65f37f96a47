"""The PySide6 pin (<6.12) guards against 6.12.0's abort on Python 3.11: a refcount bug frees
the ``True``/``False`` singletons after a few hundred ``Signal(bool).emit()`` calls ("Fatal
Python error: bool_dealloc"; ~550 on 3.11.7). Whoever lifts the pin must see this pass."""

from __future__ import annotations

import subprocess
import sys
import textwrap

EMITS = 5000

SCRIPT = textwrap.dedent(
    f"""
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    class Source(QObject):
        changed = Signal(bool)

    app = QCoreApplication(sys.argv)
    source, seen = Source(), []
    source.changed.connect(seen.append)
    for i in range({EMITS}):
        source.changed.emit(i % 2 == 0)
    print(len(seen))
    """
)


def test_thousands_of_bool_signal_emits_do_not_abort_the_interpreter() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(EMITS)
