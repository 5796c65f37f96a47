"""The upload engine: claims queued uploads, runs transfers, records outcomes and retries.

Huey runs the transfers (each runner task claims uploads one after another until none is due),
but state.db is the truth: a claim is a lease in the upload's row, renewed while the runner
lives, so uploads whose runner died with the process are found and queued again.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from typing import Any, Callable, Protocol

from core.bandwidth import TokenBucket
from core.errors import TransferError, TransferStopped
from core.filereader import FileFingerprint
from core.models import EventKind, Status
from core.pathtext import from_stored
from core.progress import SpeedMeter
from core.retry import decide
from core.store import now_iso
from core.targets import make_client, secret_key
from core.transfer import transfer
from worker.diskguard import DiskGuard
from worker.engine_faults import DISK_FULL, FaultRecovery
from worker.housekeeping import LEASE_SECONDS, Housekeeping

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25  # seconds between progress writes: smooth bars, few commits


class Scheduler(Protocol):
    """How the engine asks for work to be run; Huey in the worker, threads in tests."""

    def start_runners(self, count: int) -> None: ...
    def dispatch_at(self, when: float) -> None: ...
    def terminate(self, upload_id: int, url: str, target_id: int) -> None: ...


class Control:
    """The flag a running upload checks between blocks: set by pause, cancel or shutdown."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.wake = threading.Event()

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.wake.set()

    def check(self) -> None:
        if self.reason is not None:
            raise TransferStopped(self.reason)


class _Hooks:
    """Connects one transfer to the store: progress, the remote URL, events, stops, bandwidth."""

    def __init__(self, engine: "Engine", upload: dict[str, Any], control: Control):
        self.engine, self.upload, self.control = engine, upload, control
        self.meter = SpeedMeter()
        self.offset = int(upload["offset"])
        self.remote_url: str | None = upload["remote_url"]
        # The claim just wrote the row: the first progress write waits an interval, so a small
        # file goes from claimed to done without one.
        self._last_write = time.monotonic()
        self._written = self.offset  # the offset state.db holds: an unchanged one is not rewritten
        self.size = int(upload["size"])
        # Progress that resets the retry count is what the server confirmed storing, never bytes
        # read from the file: a PATCH answered 503 after its whole body moved nothing.
        self.baseline = self.confirmed = int(upload.get("confirmed_offset") or 0)
        self.all_sent = bool(upload.get("all_sent"))

    @property
    def progressed(self) -> bool:
        return self.confirmed > self.baseline

    def check_stop(self) -> None:
        self.control.check()

    def throttle(self, nbytes: int) -> None:
        self.engine.bandwidth.take(nbytes, self.control.check)

    def block_hint(self) -> int | None:
        return self.engine.bandwidth.block_hint()

    def on_progress(self, offset: int) -> None:
        if offset >= self.size and not self.all_sent and self.remote_url:
            # Before the server's answer: if the worker dies now, a restart must not read a
            # server that answers 404 for a finished upload as "start over" (issue 13).
            self.all_sent = True
            self._write(self.engine.mark_all_sent, self.upload["id"])
        self.offset = offset
        speed = self.meter.update(offset)
        now = time.monotonic()
        if offset != self._written and now - self._last_write >= PROGRESS_INTERVAL:
            self._last_write, self._written = now, offset
            self._write(self.engine.write_progress, self.upload["id"], offset, speed)

    def _write(self, write: Callable[..., None], *args: Any) -> None:
        """A write of state.db from inside the request body: a full disk stops the upload
        as "waiting for disk space" (TransferStopped), not as a crash of the transfer."""
        try:
            write(*args)
        except Exception as exc:
            if self.engine.disk.report(exc):
                raise TransferStopped(DISK_FULL) from exc
            raise

    def on_confirmed(self, offset: int) -> None:
        self.confirmed = max(self.confirmed, offset)

    def on_remote(self, url: str | None, expires: str | None) -> None:
        if url != self.remote_url:  # another server upload: what the old one had is gone
            self.baseline = self.confirmed = 0
            self.all_sent = False
        self.remote_url = url
        store = self.engine.store
        with store.tx():
            store.execute(
                "UPDATE uploads SET remote_url = ?, remote_expires = ?, confirmed_offset = ?, all_sent = ?,"
                " change_seq = ?, updated_at = ? WHERE id = ?",
                (url, expires, self.confirmed, int(self.all_sent), store.next_seq(), now_iso(),
                 self.upload["id"]),
            )
            if url:
                store.add_event(EventKind.INFO, f"Server upload created: {url}", upload_id=self.upload["id"])

    def on_event(self, kind: str, message: str) -> None:
        store = self.engine.store
        with store.tx():
            store.add_event(kind, message, upload_id=self.upload["id"])


class _TargetCache:
    def __init__(self, target: dict[str, Any], client: Any):
        self.target, self.client = target, client
        self.caps: Any = None


class Engine(FaultRecovery, Housekeeping):
    """Args:
        service: the worker's Service (store, secrets, listeners).
        scheduler: runs runner tasks and timed wake-ups.
        owner: this worker instance's lease owner name.
    """

    def __init__(self, service: Any, scheduler: Scheduler, owner: str):
        self.service = service
        self.store = service.store
        self.scheduler = scheduler
        self.owner = owner
        self.bandwidth = TokenBucket(self.store.setting("bandwidth_limit"))
        self._lock = threading.Lock()
        self._controls: dict[int, Control] = {}
        self._runners = 0          # runner tasks started or waiting to start
        # Per target: (target row, protocol client, server capabilities or None until known).
        # Reading the keyring and asking OPTIONS once per target rather than once per file is
        # what lets thousands of small files go at the server's pace.
        self._targets: dict[int, _TargetCache] = {}
        self._closing = False
        self.disk = DiskGuard(service.data_dir, on_full=self._disk_full, on_space=self._disk_space_back)
        self._stop_housekeeping = threading.Event()
        self._housekeeper: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.disk.start()
        self.reconcile()
        self._housekeeper = threading.Thread(target=self._housekeeping_loop, name="housekeeping", daemon=True)
        self._housekeeper.start()
        self.kick()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running transfer; they go back to queued and resume at the next start."""
        self._closing = True
        self.disk.stop()
        self._stop_housekeeping.set()
        with self._lock:
            controls = list(self._controls.values())
        for control in controls:
            control.stop("shutdown")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._controls:
                    break
            time.sleep(0.05)
        for cached in list(self._targets.values()):
            cached.client.close()

    # -- what the service asks ------------------------------------------------------------
    def is_running(self, upload_id: int) -> bool:
        with self._lock:
            return upload_id in self._controls

    def stop(self, upload_id: int, reason: str) -> None:
        with self._lock:
            control = self._controls.get(upload_id)
        if control:
            control.stop(reason)

    def terminate_later(self, upload_id: int) -> None:
        row = self.store.query_one("SELECT remote_url, target_id FROM uploads WHERE id = ?", (upload_id,))
        if row and row["remote_url"]:
            self.scheduler.terminate(upload_id, row["remote_url"], row["target_id"])

    def forget_client(self, target_id: int) -> None:
        """The target changed or went: its next upload reads it, its secret and its server anew."""
        with self._lock:
            cached = self._targets.pop(target_id, None)
        if cached:
            cached.client.close()

    def settings_changed(self) -> None:
        self.bandwidth.set_rate(self.store.setting("bandwidth_limit"))
        with self._lock:
            cached, self._targets = list(self._targets.values()), {}
        for entry in cached:
            entry.client.close()
        self.kick()

    def kick(self) -> None:
        """Start runners for free slots when there is work that is due."""
        if self._closing or self.disk.full:
            return
        concurrency = int(self.store.setting("concurrency"))
        due = self._count_due()
        with self._lock:
            free = concurrency - self._runners
            start = max(0, min(free, due))
            self._runners += start
        if start:
            self.scheduler.start_runners(start)

    def _count_due(self) -> int:
        row = self.store.query_one(
            "SELECT count(*) AS n FROM uploads WHERE status = ? OR (status = ? AND next_attempt_at <= ?)",
            (Status.QUEUED.value, Status.RETRYING.value, time.time()),
        )
        return int(row["n"]) if row else 0

    # -- runner ---------------------------------------------------------------------------
    def run_runner(self) -> None:
        """One runner task: claim and upload due uploads one after another, then end.

        Chaining in one task (rather than one Huey task per upload) keeps thousands of small
        files from paying a queue round trip each.
        """
        try:
            while not self._closing:
                concurrency = int(self.store.setting("concurrency"))
                with self._lock:
                    if self._runners > concurrency:  # the limit was lowered: this runner retires
                        break
                if self.disk.full:
                    break
                try:
                    upload = self._claim_next()
                except Exception as exc:
                    if self.disk.report(exc):
                        break
                    raise
                if upload is None:
                    break
                self.run_upload(upload)
        finally:
            with self._lock:
                self._runners -= 1
            self.kick()

    def _claim_next(self) -> dict[str, Any] | None:
        store = self.store
        with store.tx():
            # Two index-ordered lookups rather than one OR query, which would sort every
            # queued row on each claim (thousands of files from a watched folder).
            candidates = [r for r in (
                store.query_one("SELECT * FROM uploads WHERE status = ? ORDER BY id LIMIT 1",
                                (Status.QUEUED.value,)),
                store.query_one("SELECT * FROM uploads WHERE status = ? AND next_attempt_at <= ? ORDER BY id LIMIT 1",
                                (Status.RETRYING.value, time.time())),
            ) if r is not None]
            if not candidates:
                return None
            row = min(candidates, key=lambda r: r["id"])
            extra = {"lease_owner": self.owner, "lease_expires": time.time() + LEASE_SECONDS,
                     "next_attempt_at": None, "speed": 0}
            if not row["started_at"]:
                extra["started_at"] = now_iso()
            message = "Starting" if not row["remote_url"] else "Resuming: asking the server how much it has"
            self.service.set_status(row["id"], Status.UPLOADING, event=EventKind.STARTED, message=message, extra=extra)
            with self._lock:
                self._controls[row["id"]] = Control()
        return row

    def _target(self, target_id: int) -> _TargetCache:
        with self._lock:
            cached = self._targets.get(target_id)
        if cached is None:
            target = self.service.get_target(target_id)
            secret = self.service.secrets.get(secret_key(target_id))
            cached = _TargetCache(target, make_client(target, secret, self.store.settings()))
            with self._lock:
                cached = self._targets.setdefault(target_id, cached)
        return cached

    def run_upload(self, upload: dict[str, Any]) -> None:
        upload_id = upload["id"]
        with self._lock:
            control = self._controls[upload_id]
        hooks = _Hooks(self, upload, control)
        try:
            cached = self._target(upload["target_id"])
            target, client = cached.target, cached.client
            chunk = target.get("chunk_size") or int(self.store.setting("chunk_size")) or None
            metadata = {"filename": upload["name"],
                        "filetype": mimetypes.guess_type(upload["name"])[0] or "application/octet-stream"}
            expected = FileFingerprint(upload["size"], upload["mtime_ns"], upload["inode"],
                                       upload.get("ctime_ns"))
            if hooks.all_sent and upload["remote_url"] and self._sent_before(upload, client, hooks):
                return
            if cached.caps is None:
                cached.caps = client.discover(target["url"])
            # Never send bytes inside the creation POST: if the worker dies after the server
            # stored a whole small file but before its URL reached state.db, the restart would
            # create and complete a second copy (a processing server would import it twice).
            # An empty POST whose URL is saved before the first PATCH can leave at most an
            # empty orphan, which the server expires.
            url = transfer(client, target["url"], from_stored(upload["path"]), expected, upload["remote_url"], metadata,
                           hooks, chunk_size=chunk, caps=cached.caps, creation_with_upload_limit=0)
            self._finish(upload, Status.DONE, EventKind.DONE, "Uploaded; the server has every byte",
                         extra={"offset": upload["size"], "remote_url": url})
        except TransferStopped as stop:
            self._stopped(upload, stop.reason, hooks)
        except TransferError as error:
            self._forget_caps(upload["target_id"])  # the server may have changed: ask it again
            self._failed_attempt(upload, error, hooks)
        except Exception as exc:
            if self.disk.report(exc):
                self._stopped(upload, DISK_FULL, hooks)
                return
            log.exception("upload %s failed unexpectedly", upload_id)
            self._finish(upload, Status.FAILED, EventKind.FAILED,
                         f"An internal error stopped this upload; details are in {self.service.data_dir}/upqueue.log",
                         title="Internal error")
        finally:
            with self._lock:
                self._controls.pop(upload_id, None)

    def _forget_caps(self, target_id: int) -> None:
        with self._lock:
            cached = self._targets.get(target_id)
        if cached:
            cached.caps = None

    def write_progress(self, upload_id: int, offset: int, speed: float) -> None:
        store = self.store
        with store.tx():
            store.execute(
                'UPDATE uploads SET "offset" = ?, speed = ?, change_seq = ?, updated_at = ?, lease_expires = ?'
                " WHERE id = ? AND status = ?",
                (offset, speed, store.next_seq(), now_iso(), time.time() + LEASE_SECONDS, upload_id,
                 Status.UPLOADING.value),
            )

    # -- outcomes -------------------------------------------------------------------------
    def _finish(self, upload: dict[str, Any], status: Status, event: str, message: str, *,
                title: str | None = None, extra: dict[str, Any] | None = None) -> None:
        columns = {"speed": 0, "lease_owner": None, "lease_expires": None, "finished_at": now_iso(),
                   "next_attempt_at": None, **(extra or {})}
        if status == Status.FAILED:
            columns.update(error_title=title, error_message=message)
        with self.store.tx():
            changed = self.service.set_status(upload["id"], status, event=event, message=message, title=title,
                                              extra=columns, only_from=[Status.UPLOADING.value])
        if changed:
            self.service.fire_finished(upload["id"])

    def _stopped(self, upload: dict[str, Any], reason: str, hooks: _Hooks) -> None:
        if reason == DISK_FULL:
            self._wait_for_disk(upload, hooks)
            return
        store = self.store
        with store.tx():
            store.execute(
                'UPDATE uploads SET "offset" = ?, confirmed_offset = ?, speed = 0, lease_owner = NULL,'
                " lease_expires = NULL, change_seq = ? WHERE id = ?",
                (hooks.offset, hooks.confirmed, store.next_seq(), upload["id"]),
            )
            if reason == "shutdown":
                self.service.set_status(upload["id"], Status.QUEUED, event=EventKind.REQUEUED,
                                        message="The worker stopped; this upload resumes when it starts again",
                                        only_from=[Status.UPLOADING.value])
        if reason == "cancel" and hooks.remote_url:
            self._terminate_now(upload["id"], hooks.remote_url, upload["target_id"])

    def _terminate_now(self, upload_id: int, url: str, target_id: int) -> None:
        try:
            self._target(target_id).client.terminate(url)
            message = "The server's copy was deleted"
        except Exception as exc:  # the cancel stands either way; say what happened
            message = f"Could not delete the server's copy: {getattr(exc, 'message', exc)}"
            log.warning("terminate %s failed: %s", url, exc)
        store = self.store
        with store.tx():
            store.execute("UPDATE uploads SET remote_url = NULL, remote_expires = NULL, change_seq = ? WHERE id = ?"
                          " AND status = ?", (store.next_seq(), upload_id, Status.CANCELLED.value))
            store.add_event(EventKind.INFO, message, upload_id=upload_id)

    def terminate_task(self, upload_id: int, url: str, target_id: int) -> None:
        self._terminate_now(upload_id, url, target_id)

    def _failed_attempt(self, upload: dict[str, Any], error: TransferError, hooks: _Hooks) -> None:
        settings = self.store.settings()
        row = self.store.query_one("SELECT attempts FROM uploads WHERE id = ?", (upload["id"],))
        # Progress resets the count: only failures in a row, without a byte moving, add up.
        attempts = 1 if hooks.progressed else int(row["attempts"] if row else 0) + 1
        decision = decide(error, attempts, limit=int(settings["retry_limit"]),
                          base=float(settings["retry_base_delay"]), cap=float(settings["retry_max_delay"]))
        if not decision.retry:
            message = error.message
            if error.kind in ("transient", "conflict", "checksum", "gone"):
                message = f"{error.message} (gave up after {attempts} attempts)"
            self._finish(upload, Status.FAILED, EventKind.FAILED, message, title=error.title,
                         extra={"offset": hooks.offset, "attempts": attempts, "confirmed_offset": hooks.confirmed})
            return
        when = time.time() + decision.delay
        capped = ""
        if decision.server_asked is not None and decision.server_asked > decision.delay:
            capped = (f" (the server asked for {decision.server_asked:g} s; upqueue waits at most "
                      f"retry_max_delay, {decision.delay:g} s)")
        with self.store.tx():
            self.service.set_status(
                upload["id"], Status.RETRYING, event=EventKind.RETRYING,
                message=f"{error.message} — retry {attempts} in {decision.delay:.0f} s{capped}",
                title=error.title,
                extra={"offset": hooks.offset, "attempts": attempts, "next_attempt_at": when, "speed": 0,
                       "confirmed_offset": hooks.confirmed,
                       "lease_owner": None, "lease_expires": None,
                       "error_title": error.title, "error_message": error.message},
                only_from=[Status.UPLOADING.value],
            )
        self.scheduler.dispatch_at(when)

def new_owner() -> str:
    import os
    import uuid
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


__all__ = ["Engine", "Scheduler", "Control", "new_owner", "Callable"]
