"""The engine's one timer: due retries woken, leases renewed, lost uploads found, long pauses
cancelled.

One wake-up path for due work. A retry's time lives in state.db (``next_attempt_at``); this
timer sleeps until the earliest one (or the next lease renewal, reconcile or auto-cancel) and
kicks the engine then. Whatever schedules a retry or changes a setting pokes it to recompute.
Huey's own scheduler is not used for this: its queue is flushed at every start and a popped
task dies with a killed process, so a second copy of "when" there could only go missing (which
is why a 1-second blind kick existed); and its periodic tasks tick once a minute at best.

Huey pops a task destructively, so an upload whose runner died with the worker is only known
from state.db: its row says "uploading" under a lease nobody renews. Reconcile (at start and
every minute, here) queues those again; they resume from the server's offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from upqueue.core.store import Store
from upqueue.worker.repository import UploadRepository

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
RECONCILE_SECONDS = 60.0
LONGEST_SLEEP = 30.0  # even with nothing due, look again now and then (a clock jump, a bug)


class Housekept(Protocol):
    """What the timer needs of the engine."""

    owner: str

    def kick(self) -> None: ...
    def reconcile(self) -> int: ...
    def running_ids(self) -> set[int]: ...
    def terminate_later(self, upload_id: int) -> None: ...

    @property
    def finished(self) -> Any: ...


class Housekeeper:
    """Args:
        engine: the engine it keeps.
        repository: the upload SQL.
        store: state.db (settings).
        clock: wall-clock seconds.
    """

    def __init__(self, engine: Housekept, repository: UploadRepository, store: Store, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine, self.repository, self.store, self.clock = engine, repository, store, clock
        self._poked = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        now = clock()
        self._next_lease = now + LEASE_SECONDS / 4
        self._next_reconcile = now + RECONCILE_SECONDS

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._poked.set()

    def poke(self) -> None:
        """Something due changed (a retry scheduled, a setting): recompute the sleep now."""
        self._poked.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                wait = self.run_once()
            except Exception:
                log.exception("housekeeping failed")
                wait = 1.0
            self._poked.wait(wait)
            self._poked.clear()

    def run_once(self) -> float:
        """Do what is due now; return the seconds until something next falls due."""
        now = self.clock()
        if now >= self._next_lease:
            self._next_lease = now + LEASE_SECONDS / 4
            self.repository.renew_leases(self.engine.owner, sorted(self.engine.running_ids()),
                                         now + LEASE_SECONDS)
        if now >= self._next_reconcile:
            self._next_reconcile = now + RECONCILE_SECONDS
            self.engine.reconcile()
        next_cancel = self._auto_cancel(now)
        retry_at = self.repository.next_retry_at()
        if retry_at is not None and retry_at <= now:
            self.engine.kick()
            retry_at = self.repository.next_retry_at()
            # Still due after the kick: every runner slot is busy; a finishing runner kicks.
            if retry_at is not None and retry_at <= now:
                retry_at = None
        times = [self._next_lease, self._next_reconcile, now + LONGEST_SLEEP]
        times += [t for t in (retry_at, next_cancel) if t is not None]
        return max(0.01, min(times) - now)

    def _auto_cancel(self, now: float) -> float | None:
        """Cancel uploads paused past the setting; return when the next one would be due."""
        limit = float(self.store.setting("auto_cancel_paused_after"))
        if limit <= 0:
            return None
        for upload_id in self.repository.paused_before(now - limit):
            if self.repository.auto_cancel(upload_id, limit):
                self.engine.terminate_later(upload_id)
                self.engine.finished.fire(upload_id)
        earliest = self.repository.earliest_pause()
        return earliest + limit if earliest is not None else None
