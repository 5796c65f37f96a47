"""The upload engine: claims due uploads, hands them to their target's transport, follows a
processing stage where the protocol has one, and records outcomes and retries.

Huey runs the transfers (each runner task claims uploads one after another until none is due),
but state.db is the truth: a claim is a lease in the upload's row, renewed while the runner
lives, so uploads whose runner died with the process are found and queued again
(worker/housekeeping.py). The engine knows no protocol: core.transports.registry gives the
transport for a target, and the upload's remote state is that transport's, stored unread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from upqueue.core.bandwidth import TokenBucket
from upqueue.core.errors import TransferError, TransferStopped, UpqueueError
from upqueue.core.models import EventKind, Status
from upqueue.core.store import Store
from upqueue.core.transports.base import NotSupported, RemoteState
from upqueue.worker.diskguard import DiskGuard
from upqueue.worker.engine_batch import SmallBatches
from upqueue.worker.engine_faults import DISK_FULL, DiskWaits
from upqueue.worker.engine_follow import ProcessingFollow
from upqueue.worker.engine_hooks import Control, UploadHooks
from upqueue.worker.engine_outcomes import FinishedListener, Outcomes
from upqueue.worker.engine_retry import FailedAttempts
from upqueue.worker.engine_targets import Secrets, Targets
from upqueue.worker.housekeeping import LEASE_SECONDS, Housekeeper
from upqueue.worker.repository import UploadRepository
from upqueue.worker.repository.reads import remote_state

log = logging.getLogger(__name__)


class Scheduler(Protocol):
    """How the engine asks for work to be run: Huey in the worker, inline in tests."""

    def start_runners(self, count: int) -> None: ...
    def terminate(self, upload_id: int, state: RemoteState, target_id: int) -> None: ...
    def follow(self, name: str, follow: Callable[[], None]) -> None:
        """Run ``follow`` (a server's processing being followed) beside the runners."""


class Engine(SmallBatches, ProcessingFollow):
    """Args:
    store: state.db (settings).
    repository: the upload SQL and transitions.
    secrets: the keyring, for the targets' secrets.
    scheduler: runs runner tasks and deferred terminations.
    finished: told about uploads that finished.
    owner: this worker instance's lease owner name.
    data_dir: where the log is (named in an internal error).
    clock: wall-clock seconds (tests pass a fake one).
    """

    def __init__(
        self,
        store: Store,
        repository: UploadRepository,
        secrets: Secrets,
        scheduler: Scheduler,
        finished: FinishedListener,
        owner: str,
        data_dir: os.PathLike[str] | str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.repository, self.secrets = store, repository, secrets
        self.scheduler, self.finished, self.owner = scheduler, finished, owner
        self.data_dir = str(data_dir)
        self.clock = clock
        self.bandwidth = TokenBucket(self.store.setting("bandwidth_limit"))
        self._lock = threading.Lock()
        self._controls: dict[int, Control] = {}
        self._runners = 0  # runner tasks started or waiting to start
        self._followers = 0  # threads following a server's processing (beside the runners)
        self.targets = Targets(store, repository, secrets)
        self._closing = False
        self.housekeeper = Housekeeper(self, repository, store, clock=clock)
        self.disk_waits = DiskWaits(
            repository, self.data_dir, owner, self.running_ids, self._stop_all, self.kick
        )
        self.outcomes = Outcomes(repository, finished, self.disk_waits, self.targets)
        self.failed_attempts = FailedAttempts(
            store, repository, self.outcomes.finish, self.housekeeper.poke, clock
        )
        self.disk = DiskGuard(
            self.data_dir,
            on_full=self.disk_waits.disk_full,
            on_space=self.disk_waits.disk_space_back,
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.disk.start()
        self.reconcile()
        self.housekeeper.start()
        self.kick()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running transfer; they go back to queued and resume at the next start."""
        self._closing = True
        self.disk.stop()
        self.housekeeper.stop()
        self._stop_all("shutdown")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._controls:
                    break
            time.sleep(0.05)
        self.targets.close()

    # -- what the service asks ------------------------------------------------------------
    def is_running(self, upload_id: int) -> bool:
        with self._lock:
            return upload_id in self._controls

    def running_ids(self) -> set[int]:
        with self._lock:
            return set(self._controls)

    def running_controls(self) -> list[Control]:
        with self._lock:
            return list(self._controls.values())

    def _stop_all(self, reason: str) -> None:
        for control in self.running_controls():
            control.stop(reason)

    def stop(self, upload_id: int, reason: str) -> None:
        with self._lock:
            control = self._controls.get(upload_id)
        if control:
            control.stop(reason)

    def terminate_later(self, upload_id: int) -> None:
        row = self.repository.find(upload_id)
        state = remote_state(row) if row else None
        if row and state:
            self.scheduler.terminate(upload_id, state, row["target_id"])

    def forget_transport(self, target_id: int) -> None:
        """The target changed or went: its next upload reads it, its secret and its server anew."""
        self.targets.forget(target_id)

    def settings_changed(self) -> None:
        self.bandwidth.set_rate(self.store.setting("bandwidth_limit"))
        self.targets.forget_all()
        self.housekeeper.poke()
        self.kick()

    def timers_changed(self) -> None:
        """Something with a time changed (an upload paused): the one timer recomputes."""
        self.housekeeper.poke()

    def kick(self) -> None:
        """Start runners for free slots when there is work that is due."""
        if self._closing or self.disk.full:
            return
        concurrency = int(self.store.setting("concurrency"))
        due = self.repository.count_due()
        with self._lock:
            free = concurrency - self._runners
            start = max(0, min(free, due))
            self._runners += start
        if start:
            self.scheduler.start_runners(start)

    def reconcile(self) -> int:
        """Queue again every upload marked as running that no live runner of ours holds."""
        count = self.repository.requeue_lost(self.owner, self.running_ids())
        if count:
            log.info("reconcile: %d upload(s) whose runner was gone are due again", count)
            self.kick()
        return count

    def clean_up_remote(self) -> list[str]:
        """Ask every target's transport to delete what it left on the server for uploads that
        no longer exist (e.g. S3 multipart uploads), sparing what a live upload may continue."""
        said: list[str] = []
        by_target = self.repository.remote_states_by_target()
        # Every target sees every live state: two targets may share a bucket and a prefix.
        live = [state for states in by_target.values() for state in states]
        for target_id in by_target:
            try:
                with self.targets.using(target_id) as cached:
                    done = cached.transport.clean_up_stale(live)
            except UpqueueError as exc:  # one unreachable server must not stop the others
                log.warning("cleaning up stale uploads of target %s failed: %s", target_id, exc)
                continue
            for sentence in done:
                log.info("target %s: %s", target_id, sentence)
            said += done
        return said

    # -- runner ---------------------------------------------------------------------------
    def run_runner(self) -> None:
        """One runner task: claim and run due uploads one after another (small new files
        several at a time: worker/engine_batch.py), then end.

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
                self.run_claimed(upload)
        finally:
            with self._lock:
                self._runners -= 1
            self.kick()

    def _lease_until(self) -> float:
        return self.clock() + LEASE_SECONDS

    def _claim_next(self) -> dict[str, Any] | None:
        with self._lock:  # a control exists before anyone can see the upload running
            row = self.repository.claim_next(self.owner, self._lease_until())
            if row is not None:
                self._controls[row["id"]] = Control()
        return row

    def run_upload(self, upload: dict[str, Any]) -> None:
        upload_id = upload["id"]
        with self._lock:
            control = self._controls[upload_id]
        hooks = self._hooks_for(upload, control)
        handed_over = False
        try:
            handed_over = self._guarded(upload, hooks, lambda: self._attempt(upload, hooks))
        finally:
            if not handed_over:  # a follower thread has it now, and lets it go when done
                with self._lock:
                    self._controls.pop(upload_id, None)

    def _hooks_for(self, upload: dict[str, Any], control: Control) -> UploadHooks:
        return UploadHooks(
            upload,
            control,
            self.repository,
            self.bandwidth,
            self._lease_until,
            write_failed=self.disk.report,
        )

    def _attempt(self, upload: dict[str, Any], hooks: UploadHooks) -> bool:
        """Send the upload (or follow its processing); True when a follower took it over."""
        with self.targets.using(upload["target_id"]) as cached:
            chunk = cached.target.get("chunk_size") or int(self.store.setting("chunk_size"))
            job = self.repository.job(upload, chunk or None)
            state = hooks.remote_state
            if upload["status"] == Status.PROCESSING and state is not None:
                hooks.processing = True  # a kill or a stop left it being processed: follow again
                return self._follow_elsewhere(upload, cached, job, state, hooks)
            if cached.caps is None:
                cached.caps = cached.transport.probe()
            sent = cached.transport.send(job, state, hooks, cached.caps)
            if sent.processing:
                return self._processing(upload, cached, job, sent, hooks)
            self.outcomes.done(upload, sent.message, sent.result_url, sent.remote_state, job.size)
            return False

    def _guarded(
        self, upload: dict[str, Any], hooks: UploadHooks, attempt: Callable[[], bool]
    ) -> bool:
        """Run ``attempt`` and record how it ended; its answer, or False when it raised."""
        upload_id = upload["id"]
        try:
            return attempt()
        except TransferStopped as stop:
            self.outcomes.stopped(upload, stop.reason, hooks)
        except NotSupported as error:
            self.outcomes.finish(
                upload,
                Status.FAILED,
                EventKind.FAILED,
                error.message,
                title=error.title,
                extra={"offset": hooks.offset},
            )
        except TransferError as error:
            # the server may have changed: ask it again
            self.targets.forget_caps(upload["target_id"])
            self.failed_attempts.record(upload, error, hooks)
        except Exception as exc:
            if self.disk.report(exc):
                self.outcomes.stopped(upload, DISK_FULL, hooks)
                return False
            log.exception("upload %s failed unexpectedly", upload_id)
            self.outcomes.finish(
                upload,
                Status.FAILED,
                EventKind.FAILED,
                f"An internal error stopped this upload; details are in {self.data_dir}/upqueue.log",
                title="Internal error",
            )
        return False

    def terminate_task(self, upload_id: int, state: RemoteState, target_id: int) -> None:
        self.outcomes.terminate_now(upload_id, state, target_id)


def new_owner() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


__all__ = ["Control", "Engine", "Scheduler", "new_owner"]
