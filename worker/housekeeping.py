"""The engine's housekeeping: leases renewed, lost uploads queued again, long pauses cancelled.

Huey pops a task destructively, so an upload whose runner died with the worker is only known
from state.db: its row says "uploading" under a lease nobody renews. ``reconcile`` (at start and
every minute, as a Huey periodic task) queues those again; they resume from the server's offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from core.models import EventKind, Status
from core.store import now_iso

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0


class Housekeeping:
    """Mixed into Engine; uses its store, service, owner, lock, running controls and kick."""

    store: Any
    service: Any
    owner: str
    _lock: threading.Lock
    _controls: dict[int, Any]
    _stop_housekeeping: threading.Event
    # Engine's own methods; annotated rather than stubbed, so a missing one fails loudly.
    kick: Callable[[], None]
    terminate_later: Callable[[int], None]

    def reconcile(self) -> int:
        """Queue again every upload marked as running that no live runner of ours holds."""
        store = self.store
        with self._lock:
            live = set(self._controls)
        count = 0
        with store.tx():
            rows = store.query(
                "SELECT id, lease_owner, lease_expires FROM uploads WHERE status = ?", (Status.UPLOADING.value,))
            for row in rows:
                if row["id"] in live:
                    continue
                if row["lease_owner"] == self.owner and (row["lease_expires"] or 0) > time.time():
                    continue
                self.service.set_status(
                    row["id"], Status.QUEUED, event=EventKind.REQUEUED,
                    message="The worker stopped while this was uploading; it resumes from the server's offset",
                    extra={"lease_owner": None, "lease_expires": None, "speed": 0})
                count += 1
        if count:
            log.info("reconcile: re-queued %d upload(s) whose runner was gone", count)
            self.kick()
        return count

    def _housekeeping_loop(self) -> None:
        last_lease = 0.0
        while not self._stop_housekeeping.wait(1.0):
            try:
                now = time.time()
                if now - last_lease > LEASE_SECONDS / 4:
                    last_lease = now
                    self._renew_leases()
                self._auto_cancel()
                self.kick()  # due retries, and a safety net for lost wake-ups
            except Exception:
                log.exception("housekeeping failed")

    def _renew_leases(self) -> None:
        with self._lock:
            ids = list(self._controls)
        if not ids:
            return
        with self.store.tx():
            self.store.execute(
                f"UPDATE uploads SET lease_expires = ? WHERE lease_owner = ? AND id IN ({', '.join('?' * len(ids))})",
                (time.time() + LEASE_SECONDS, self.owner, *ids),
            )

    def _auto_cancel(self) -> None:
        limit = float(self.store.setting("auto_cancel_paused_after"))
        if limit <= 0:
            return
        rows = self.store.query("SELECT id FROM uploads WHERE status = ? AND paused_at < ?",
                                (Status.PAUSED.value, time.time() - limit))
        for row in rows:
            with self.store.tx():
                changed = self.service.set_status(
                    row["id"], Status.CANCELLED, event=EventKind.CANCELLED,
                    message=f"Cancelled after being paused for more than {limit:g} s (auto-cancel setting)",
                    extra={"finished_at": now_iso()}, only_from=[Status.PAUSED.value])
            if changed:
                self.terminate_later(row["id"])
                self.service.fire_finished(row["id"])
