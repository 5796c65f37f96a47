"""Screenshots of a new user's first minutes, for docs/: the first launch (welcome page) and the
Targets dialog, with the real window and the real worker in a fresh data directory.

Run under a real X server: ``DISPLAY=:99 QT_QPA_PLATFORM=xcb .venv/bin/python
tools/first_launch_shots.py [--out-dir docs]`` (the 800x500 queue: tools/screenshot.py
--width 800 --height 500).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget


def wait(app: QApplication, ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def until(app: QApplication, condition, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        wait(app, 50)


def save(widget: QWidget, path: Path) -> None:
    image = widget.grab()
    if not image.save(str(path)):
        raise SystemExit(f"could not write {path}")
    print(f"wrote {path} ({image.width()}x{image.height()})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    args = parser.parse_args()
    out = Path(args.out_dir)
    os.environ["UPQUEUE_HOME"] = tempfile.mkdtemp(prefix="upqueue-first-")
    os.environ.setdefault("UPQUEUE_SECRET_STORE", "file")

    from upqueue.gui.app import make_application
    from upqueue.gui.main_window import MainWindow

    app = make_application([sys.argv[0]])
    window = MainWindow()  # starts the real worker, as a first launch does
    window.resize(1100, 650)
    window.show()
    try:
        until(app, lambda: window.loaded and window.targets_loaded, "the worker")
        wait(app, 300)
        save(window, out / "first-launch.png")
        window.first_run.button.click()
        dialog = window.dialog_host.dialogs["targets"]
        dialog.name.setText("geo")
        dialog.url.setText("http://127.0.0.1:1/files/")
        dialog.test_button.click()
        until(app, lambda: dialog.test_button.isEnabled() and dialog.result_text(), "the test")
        wait(app, 200)
        save(dialog, out / "targets-dialog.png")
        dialog.ask_unsaved = lambda name, answer: answer("discard")
        dialog.reject()
    finally:
        client = window.api
        window._quitting = True
        window.close()
        if client is not None:
            client.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
