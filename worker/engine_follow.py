"""Following a server's processing (GeoNode importing an upload) once the last byte went: on a
thread of its own while a follower slot is spare, so that the runner's slot goes to the next
transfer, else inline in the runner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from upqueue.core.transports.base import RemoteState, Sent, UploadJob
from upqueue.worker.engine_hooks import Control, UploadHooks
from upqueue.worker.engine_outcomes import Outcomes
from upqueue.worker.engine_targets import TargetCache, Targets
from upqueue.worker.repository import UploadRepository

if TYPE_CHECKING:
    from upqueue.worker.engine import Scheduler

# Uploads followed on their server at once (GeoNode importing them) beside the transfers; a
# follower only polls now and then. Past this many, a runner follows in its own slot.
MAX_FOLLOWERS = 32


class ProcessingFollow:
    """Mixed into Engine; uses its ``_lock`` (over ``_closing``, ``_followers`` and
    ``_controls``), ``scheduler``, ``repository``, ``outcomes`` and ``_guarded``."""

    _lock: threading.Lock
    _closing: bool
    _followers: int  # threads following a server's processing (beside the runners)
    _controls: dict[int, Control]
    scheduler: Scheduler
    repository: UploadRepository
    outcomes: Outcomes
    targets: Targets
    _guarded: Callable[[dict[str, Any], UploadHooks, Callable[[], bool]], bool]

    def _follow_elsewhere(
        self,
        upload: dict[str, Any],
        cached: TargetCache,
        job: UploadJob,
        state: RemoteState,
        hooks: UploadHooks,
    ) -> bool:
        """Follow the server's processing on a thread of its own, so that the runner's slot
        goes to the next transfer: an import that takes an hour must not hold back the queue.
        Inline (False) when too many are being followed already."""
        with self._lock:
            spare = not self._closing and self._followers < MAX_FOLLOWERS
            if spare:
                self._followers += 1
        if not spare:
            self._follow(upload, cached, job, state, hooks)
            return False

        def follow() -> bool:
            self._follow(upload, cached, job, state, hooks)
            return False

        def follower() -> None:
            try:
                self._guarded(upload, hooks, follow)
            finally:
                self.targets.release(cached)
                with self._lock:
                    self._controls.pop(upload["id"], None)
                    self._followers -= 1

        self.targets.hold(cached)  # the runner lets go of it when this returns
        try:
            self.scheduler.follow(f"follow-{upload['id']}", follower)
        except BaseException:
            self.targets.release(cached)
            with self._lock:
                self._followers -= 1
            raise
        return True

    def _processing(
        self,
        upload: dict[str, Any],
        cached: TargetCache,
        job: UploadJob,
        sent: Sent,
        hooks: UploadHooks,
    ) -> bool:
        hooks.remote_state = sent.remote_state
        if not self.repository.start_processing(
            upload["id"], sent.remote_state, sent.result_url, job.size
        ):
            return False  # cancelled or paused as the last byte went: that decision stands
        hooks.processing = True
        return self._follow_elsewhere(upload, cached, job, sent.remote_state, hooks)

    def _follow(
        self,
        upload: dict[str, Any],
        cached: TargetCache,
        job: UploadJob,
        state: RemoteState,
        hooks: UploadHooks,
    ) -> None:
        processed = cached.transport.follow_processing(job, state, hooks)
        self.outcomes.done(
            upload,
            processed.message,
            processed.result_url or upload.get("result_url"),
            hooks.remote_state or state,
            job.size,
        )
