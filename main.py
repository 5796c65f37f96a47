"""upqueue's entry point: no arguments open the window; a command runs the command line.

``main.py worker`` runs the worker process. The same entry point serves a PyInstaller build,
where the worker is started as ``<executable> worker``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> int:
    """Run upqueue.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The process exit code.
    """
    if getattr(sys, "frozen", False):
        # In a frozen build a multiprocessing child re-enters here; this makes it run its task.
        # (Imported only then: every command pays for what it imports before its first request.)
        import multiprocessing

        multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return _window()
    from upqueue.core.cli import run

    code = run(args, worker_runner=_run_worker)
    if argv is None and args[0] != "worker":  # this process is the command (not a test's call)
        _exit_at_once(code)
    return code


def _exit_at_once(code: int) -> NoReturn:
    """A command has said all it says: leave without tearing the interpreter down, which
    costs ~7 ms with what a command imports, after an upload's end for ``add --wait``
    (issue 12). Nothing of a command's waits for exit: its output is flushed here, its log
    handler closed where it wrote."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


def _run_worker(until_idle: bool) -> int:
    # Imported only for the worker command: every other command stays light (no Huey, no uvicorn).
    from upqueue.worker.runtime import run_worker

    return int(run_worker(until_idle=until_idle) or 0)


def _window() -> int:
    try:
        from upqueue.gui.app import run
    except ImportError as exc:
        print(
            f"upqueue: The window cannot open: {exc}. The command line works: upqueue --help",
            file=sys.stderr,
        )
        return 1
    return int(run() or 0)


if __name__ == "__main__":
    sys.exit(main())
