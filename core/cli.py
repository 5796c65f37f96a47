"""The command line: argparse, dispatch, and turning every failure into one readable line.

Each command is a thin client of the control API (core.api_client) and starts a worker in the
background when none runs; ``worker`` runs the worker itself in the foreground. Commands live
in core/cli_targets.py, core/cli_uploads.py and (watched folders, batches) core/cli_watch.py;
each module's ``register(subparsers)`` adds its parsers with ``set_defaults(func=...)``, and a
command function is ``func(client: ApiClient, args) -> int``. Set ``needs_client=False`` in
the defaults for a command that must not connect (it is then called as ``func(None, args)``).

core never imports worker/: the entry point (main.py) hands :func:`run` the function that runs
the worker, so that ``upqueue worker`` works without this package knowing the worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from upqueue.core import paths
from upqueue.core.api_client import ApiClient, WorkerUnavailable
from upqueue.core.cli_common import PROG, LazyEpilogParser, UsageError, print_json, warn
from upqueue.core.errors import UpqueueError

STOP_TIMEOUT = 30.0


class _Parser(LazyEpilogParser):
    """argparse with our error shape: ``upqueue: usage error: ...`` and exit code 2."""

    def error(self, message: str) -> Any:  # argparse's signature returns NoReturn
        self.print_usage(sys.stderr)
        warn("Invalid arguments", message)
        raise SystemExit(2)


# The module that registers each command: a command's parser needs only its own module (the
# others cost a command ~6 ms of start-up to import and build). worker, stop and status: here.
COMMAND_MODULES = {
    **dict.fromkeys(
        ("add", "ls", "show", "pause", "resume", "cancel", "retry", "rm", "export", "settings"),
        "cli_uploads",
    ),
    "target": "cli_targets",
    "watch": "cli_watch",
    "batch": "cli_watch",
}
BUILT_IN = ("worker", "stop", "status")
ALL_MODULES = ("cli_targets", "cli_uploads", "cli_watch")


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (None: none, or an option such as --help comes first)."""
    for arg in argv:
        if arg == "--debug":
            continue
        return None if arg.startswith("-") else arg
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; for a known ``command``, with that command's module alone (the full parser
    otherwise, whose help and errors list every command)."""
    parser = _Parser(
        prog=PROG,
        description="Queue files for upload to servers, follow them, and steer the worker. "
        "Without a command, upqueue opens its window.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    if command in BUILT_IN:
        modules: tuple[str, ...] = ()
    elif command in COMMAND_MODULES:
        modules = (COMMAND_MODULES[command],)
    else:
        modules = ALL_MODULES
    for name in modules:
        _register(name, sub)

    worker = sub.add_parser("worker", help="run the worker in the foreground")
    worker.add_argument(
        "--until-idle", action="store_true", help="exit once no upload is queued or running"
    )
    worker.set_defaults(func=cmd_worker, needs_client=False)

    stop = sub.add_parser("stop", help="stop the worker (running uploads resume at its next start)")
    stop.set_defaults(func=cmd_stop, needs_client=False)

    status = sub.add_parser("status", help="whether the worker runs, and what it is doing")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status, needs_client=False)
    return parser


def _register(name: str, sub: Any) -> None:
    """Add the commands of the module ``name`` (import statements, not importlib: PyInstaller
    and ``-X importtime`` see them)."""
    if name == "cli_targets":
        from upqueue.core import cli_targets

        cli_targets.register(sub)
    elif name == "cli_uploads":
        from upqueue.core import cli_uploads

        cli_uploads.register(sub)
    else:
        try:
            from upqueue.core import cli_watch
        except ModuleNotFoundError as exc:
            if exc.name != "upqueue.core.cli_watch":  # the one command module a build may lack
                raise
        else:
            cli_watch.register(sub)


WorkerRunner = Callable[[bool], int | None]


def run(argv: Sequence[str], worker_runner: WorkerRunner | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit code. Never raises for user errors.

    Args:
        argv: the arguments after the program name.
        worker_runner: runs the worker in this process, given ``until_idle``; main.py passes
            ``worker.runtime.run_worker`` (imported only when the command is ``worker``).
    """
    parser = build_parser(command_of(argv))
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    args.worker_runner = worker_runner
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        client = ApiClient.connect() if getattr(args, "needs_client", True) else None
        return int(args.func(client, args) or 0)
    except UsageError as exc:
        warn(exc.title, exc.message)
        return 2
    except UpqueueError as exc:
        warn(exc.title, exc.message)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `upqueue ls | head`: the reader left; nothing is wrong.
        _silence_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks on screen
        log_path = _log_unexpected(exc)
        if args.debug:
            import traceback

            traceback.print_exc()
        warn(
            "Internal error",
            f"Something went wrong ({exc.__class__.__name__}); details are in {log_path}.",
        )
        return 1


def _log_unexpected(exc: BaseException) -> str:
    """Append the traceback to the log file (the worker's, shared) and return its path."""
    import logging  # here: only a failing command logs (logging costs start-up)

    log = logging.getLogger("upqueue.cli")
    try:
        log_path = paths.data_dir() / paths.LOG_FILE
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [cli %(process)d]: %(message)s")
        )
        log.addHandler(handler)
        try:
            log.error("command %r failed", sys.argv[1:], exc_info=exc)
        finally:
            log.removeHandler(handler)
            handler.close()
        return str(log_path)
    except OSError:
        return "the log (could not be written)"


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- commands that manage the worker itself -------------------------------------------------
def cmd_worker(client: None, args: argparse.Namespace) -> int:
    if args.worker_runner is None:
        raise UpqueueError(
            "The worker cannot run from here", "Start it with 'upqueue worker' (main.py worker)."
        )
    return int(args.worker_runner(args.until_idle) or 0)


def cmd_stop(client: None, args: argparse.Namespace) -> int:
    try:
        api = ApiClient.connect(start=False)
    except WorkerUnavailable:
        print("The worker is not running.")
        return 0
    pid = int(api.health().get("pid") or 0)
    api.shutdown()
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not _answers(api) and not _pid_alive(pid):
            print("The worker stopped.")
            return 0
        time.sleep(0.1)
    raise UpqueueError(
        "The worker did not stop",
        f"It was asked to stop but is still running (pid {pid}) after {STOP_TIMEOUT:g} s; "
        f"see the log at {paths.data_dir() / paths.LOG_FILE}.",
    )


def cmd_status(client: None, args: argparse.Namespace) -> int:
    try:
        api = ApiClient.connect(start=False)
    except WorkerUnavailable as exc:
        if args.json:
            print_json({"running": False})
        else:
            print(f"{exc.title}.")
        return 1
    health, stats = api.health(), api.stats()
    if args.json:
        print_json({"running": True, "health": health, "stats": stats})
        return 0
    from upqueue.core import humanize

    counts = ", ".join(f"{n} {s}" for s, n in stats["counts"].items() if n) or "no uploads"
    print(
        f"Worker running (pid {health['pid']}, version {health['version']}, data in {health['data_dir']})."
    )
    speed = f", sending {humanize.speed(stats['speed'])}" if stats["speed"] else ""
    print(f"Uploads: {counts}; {stats['active']} active{speed}.")
    return 0


def _answers(api: ApiClient) -> bool:
    try:
        api.health()
    except UpqueueError:
        return False
    return True


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A stopped child of ours stays a zombie until its parent reaps it: that is not running.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
