"""The worker process: one per data directory, hosting the Huey consumer (main thread), the
upload engine, the watched folders and the control API (a uvicorn thread)."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import secrets as pysecrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from huey.consumer import Consumer
from upqueue.core import paths
from upqueue.core.diskspace import disk_full_error, is_disk_full
from upqueue.core.errors import UpqueueError
from upqueue.core.secrets import SecretStore
from upqueue.core.settings import MAX_CONCURRENCY
from upqueue.core.store import Store, now_iso, sqlite_version_report
from upqueue.core.transports import registry
from upqueue.core.version import VERSION
from upqueue.worker.engine import Engine, new_owner
from upqueue.worker.repository import UploadRepository
from upqueue.worker.service import Service
from upqueue.worker.tasks import HueyScheduler, make_huey
from upqueue.worker.upload_events import FinishedUploads

log = logging.getLogger("upqueue.worker")


def setup_logging(data_dir: Path, *, foreground: bool) -> None:
    """A rotating log file in the data directory; tracebacks go there, not to API answers."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    # backslashreplace: a file name that is not UTF-8 must not cost the line that names it.
    handler = _LogFile(
        paths.private_file(data_dir / paths.LOG_FILE),
        maxBytes=5 << 20,
        backupCount=3,
        encoding="utf-8",
        errors="backslashreplace",
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    if foreground:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        console.setLevel(logging.WARNING)
        root.addHandler(console)
    for noisy in ("huey", "urllib3", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file. One that cannot be written (a full disk) must never stop the worker, nor
    print a traceback per line to a stderr that may be gone: it says so once, and keeps trying."""

    _failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self._failing:
            return
        self._failing = True
        try:
            sys.stderr.write(
                f"upqueue: cannot write the log file {self.baseFilename}; "
                "is its disk full? Logging continues when it can.\n"
            )
        except Exception:  # noqa: BLE001, S110 - nowhere left to say it
            pass


class WorkerLock:
    """An exclusive lock on ``worker.lock``: one worker per data directory."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / paths.LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        # Held open for the worker's life: the lock lives as long as the file stays open.
        handle = open(paths.private_file(self.path), "r+", encoding="utf-8")  # noqa: SIM115
        try:
            if sys.platform == "win32":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = handle.read().strip() or "unknown"
            handle.close()
            raise UpqueueError(
                "Worker already running",
                f"Another upqueue worker (pid {other}) is running for {self.path.parent}. "
                "Use it, or stop it with `upqueue stop`.",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


class _Consumer(Consumer):
    """Huey's consumer, stopping our transfers before it waits for its worker threads.

    A running upload would otherwise hold a graceful shutdown until the whole file is sent.
    """

    before_stop: Any = staticmethod(lambda: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Huey restarts on SIGHUP by exec-ing sys.executable with sys.argv, which is wrong for a
        # frozen build (argv[0] is the executable) and skips our clean-up. Make it a graceful
        # stop and leave restarting to whoever supervises the worker. Huey 3 maps each signal
        # to (restart, graceful) in this table, read when the signal arrives.
        if hasattr(signal, "SIGHUP"):
            self._signal_actions[signal.SIGHUP] = (False, True)

    def start(self) -> None:
        super().start()  # installs Huey's signal handlers
        if _early_signals:
            # A signal that came while the worker was starting (its API may already have been
            # answering): handled now, as if it had come just after the handlers were installed.
            self._handle_signal(_early_signals[-1], None)

    def stop(self, graceful: bool = False) -> None:
        try:
            self.before_stop()
        finally:
            self.stop_flag.set()
            wake_all = getattr(self.huey.storage, "wake_all", None)
            if wake_all is not None:  # workers waiting in dequeue see the flag now
                wake_all()
            super().stop(graceful=graceful)


_early_signals: list[int] = []


def _hold_sighup_until_the_consumer_starts() -> None:
    """A SIGHUP before Huey's handlers exist (the API answers from early on, and a closing
    terminal sends one) would kill the worker mid-start with no clean-up: it is remembered and
    handled by the consumer once it starts, as a graceful stop. (SIGINT already unwinds through
    the clean-up; SIGTERM is "at once" by design.)"""
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda signum, _frame: _early_signals.append(signum))


def run_worker(until_idle: bool = False, *, foreground: bool = True) -> int:
    """Run the worker until stopped (SIGINT, SIGTERM, `upqueue stop`), or until idle.

    Raises:
        UpqueueError: it cannot start, e.g. "Disk full" rather than SQLite's OperationalError.
    """
    try:
        return _run_worker(until_idle, foreground=foreground)
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(paths.data_dir()) from exc
        raise


def _run_worker(until_idle: bool, *, foreground: bool) -> int:
    _hold_sighup_until_the_consumer_starts()
    data_dir = paths.data_dir()
    paths.tighten_modes(data_dir)
    setup_logging(data_dir, foreground=foreground)
    lock = WorkerLock(data_dir)
    lock.acquire()
    token_file = data_dir / paths.TOKEN_FILE
    endpoint_file = data_dir / paths.ENDPOINT_FILE
    store = None
    server = None
    service: Service | None = None
    try:
        store = Store(data_dir / paths.STATE_DB)
        report = sqlite_version_report()
        log.info(
            "worker %s starting in %s (pid %d); SQLite %s%s",
            VERSION,
            data_dir,
            os.getpid(),
            report["sqlite_version"],
            " (has the WAL-reset bug; single writer)" if report["wal_reset_bug"] else "",
        )
        registry.load_plugins()
        secrets = SecretStore(data_dir)
        # Built in dependency order, each given what it uses: the repository (all upload SQL),
        # who hears of finished uploads, the engine, then the service that steers it.
        repository = UploadRepository(store)
        finished = FinishedUploads(repository)
        huey = make_huey(data_dir)
        huey.flush()  # state.db is the truth; the queue is rebuilt from it below
        scheduler = HueyScheduler(huey, rescan_watches=lambda: _rescan(service))
        engine = Engine(store, repository, secrets, scheduler, finished, new_owner(), data_dir)
        scheduler.bind(engine)
        service = Service(
            store, secrets, data_dir, repository=repository, engine=engine, finished=finished
        )
        service.watches = _make_watches(service)

        from upqueue.worker.api import PortHolder, create_app, serve

        token = pysecrets.token_urlsafe(32)
        paths.private_file(token_file).write_text(token, encoding="utf-8")
        holder = PortHolder()
        server, _thread = serve(create_app(service, token, holder), "127.0.0.1", holder)
        endpoint = {
            "port": holder.port,
            "pid": os.getpid(),
            "started_at": now_iso(),
            "version": VERSION,
        }
        paths.private_file(endpoint_file).write_text(json.dumps(endpoint), encoding="utf-8")
        log.info("control API on 127.0.0.1:%d", holder.port)

        consumer = _Consumer(
            huey,
            workers=MAX_CONCURRENCY + 3,
            worker_type="thread",
            periodic=True,
            # Poll the queue often: an idle Huey backs off to 10 s by default, which a person
            # adding a file would feel.
            initial_delay=0.05,
            backoff=1.2,
            max_delay=0.5,
            check_worker_health=True,
        )

        def before_stop() -> None:
            if service.watches is not None:
                service.watches.stop()
            engine.shutdown()

        consumer.before_stop = before_stop
        service.on_shutdown = lambda: _interrupt_main()
        engine.start()
        if service.watches is not None:
            service.watches.start()
        if until_idle:
            threading.Thread(
                target=_exit_when_idle, args=(repository, engine), name="until-idle", daemon=True
            ).start()
        consumer.run()
        return 0
    finally:
        if server is not None:
            server.should_exit = True
        for leftover in (endpoint_file, token_file):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass
        if service is not None:
            service.close()
        if store is not None:
            store.close()
        lock.release()
        log.info("worker stopped")


def _rescan(service: Service | None) -> None:
    watches = service.watches if service is not None else None
    if watches is not None:
        watches.rescan_if_due()


def _make_watches(service: Service) -> Any:
    try:
        from upqueue.worker.watcher import WatchManager
    except ImportError:
        return None
    return WatchManager(service)


def _interrupt_main() -> None:
    """Ask the consumer (main thread) to stop gracefully, as Ctrl+C would."""
    threading.Timer(0.05, os.kill, args=(os.getpid(), signal.SIGINT)).start()


def _exit_when_idle(repository: UploadRepository, engine: Engine) -> None:
    """For scripts: stop once nothing is queued, running, waiting to retry or processing."""
    while True:
        time.sleep(0.5)
        if repository.count_busy() == 0 and not engine.running_ids():
            log.info("idle: stopping (--until-idle)")
            _interrupt_main()
            return
