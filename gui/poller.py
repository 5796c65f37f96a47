"""Polling the worker for changed uploads: fast while something is active, a slow heartbeat else.

One request is in flight at a time (a slow answer never piles up requests behind it); the
HTTP calls run on :class:`gui.background.Background`'s pool, never on the GUI thread. The
first poll fetches the whole queue; every later one asks only for what changed ``since`` the
worker's change counter of the previous answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from gui.background import Background

log = logging.getLogger(__name__)

FAST_MS = 250
SLOW_MS = 2000


class QueueSource(Protocol):
    """What the poller needs from the worker: :class:`core.api_client.ApiClient` provides it."""

    def uploads(self, since: int | None = None) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...


class Poller(QObject):
    """Fetches queue changes and totals on a timer.

    Args:
        background: runs the HTTP calls.
        parent: owner.
        fast_ms: interval while uploads are active.
        slow_ms: heartbeat interval otherwise (notices uploads added by the CLI or a watch).

    Signals:
        full(dict): the whole queue ``{"seq", "uploads", ...}`` (first poll, or after a reset).
        changes(dict): ``{"seq", "uploads", "removed"}`` since the previous poll.
        stats(dict): ``GET /api/stats`` (counts, speed, active).
        failed(object): the exception of a failed poll (e.g. WorkerUnavailable).
        recovered(): a poll succeeded after one failed.
    """

    full = Signal(object)
    changes = Signal(object)
    stats = Signal(object)
    failed = Signal(object)
    recovered = Signal()

    def __init__(
        self,
        background: Background,
        parent: QObject | None = None,
        fast_ms: int = FAST_MS,
        slow_ms: int = SLOW_MS,
    ) -> None:
        super().__init__(parent)
        self._background = background
        self._source: QueueSource | None = None
        self.fast_ms = fast_ms
        self.slow_ms = slow_ms
        self.seq: int | None = None
        self.active = False
        self._in_flight = False
        self._again = False
        self._failing = False
        self._started = 0.0
        # Runs on the pool thread with a full answer, to turn 100,000 dicts into rows there
        # rather than on the GUI thread.
        self.prepare_full: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.poll_now)

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    @property
    def interval(self) -> int:
        """The current wait between polls in milliseconds."""
        return self.fast_ms if self.active else self.slow_ms

    def set_source(self, source: QueueSource | None, *, reload: bool = True) -> None:
        """Poll ``source`` from now on (None stops polling); ``reload`` fetches everything anew."""
        self._source = source
        if reload:
            self.seq = None
        if source is None:
            self._timer.stop()
        else:
            self.poll_now()

    def stop(self) -> None:
        self._source = None
        self._timer.stop()

    def poll_now(self) -> None:
        """Poll at once (e.g. right after an action, so its effect shows without waiting)."""
        source = self._source
        if source is None:
            return
        if self._in_flight:
            # Coalesce: one request at a time, and one more right after it.
            self._again = True
            return
        self._timer.stop()
        self._in_flight = True
        self._again = False
        since = self.seq
        prepare = self.prepare_full
        self._started = time.monotonic()

        def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
            changed = source.uploads(since=since)
            if since is None and prepare is not None:
                changed = prepare(changed)
            return changed, source.stats()

        self._background.run(fetch, self._on_result, self._on_error)

    def _on_result(self, result: tuple[dict[str, Any], dict[str, Any]]) -> None:
        self._in_flight = False
        changed, totals = result
        if self._failing:
            self._failing = False
            self.recovered.emit()
        seq = changed.get("seq")
        if self.seq is None or (seq is not None and seq < self.seq):
            # First poll, or a counter that went backwards (a new data directory): take all.
            # A "since" answer is not the whole queue, so fetch it again in full.
            if self.seq is not None:
                self.seq = None
                self._schedule(0)
                return
            self.seq = seq
            self.full.emit(changed)
        else:
            self.seq = seq
            if changed.get("uploads") or changed.get("removed"):
                self.changes.emit(changed)
        self.active = bool(totals.get("active"))
        self.stats.emit(totals)
        # The interval runs from the start of this poll, so 250 ms means 4 polls a second.
        elapsed_ms = int((time.monotonic() - self._started) * 1000)
        self._schedule(0 if self._again else max(0, self.interval - elapsed_ms))

    def _on_error(self, error: BaseException) -> None:
        self._in_flight = False
        self._failing = True
        log.debug("poll failed: %s", error)
        self.failed.emit(error)
        self._schedule(self.slow_ms)

    def _schedule(self, ms: int) -> None:
        if self._source is not None:
            self._timer.start(ms)
