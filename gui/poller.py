"""Following the worker's queue: a first screenful, then the rest, then long polls for changes.

One request is in flight at a time (a slow answer never piles up requests behind it); the
HTTP calls run on :class:`gui.background.Background`'s pool, never on the GUI thread. The first
poll fetches the first :data:`FIRST_PAGE` uploads (painted at once), the next one the rest;
every later one is a long poll for what changed ``since`` the worker's change counter of the
previous answer, with the counts folded in (one request per poll): the worker answers as soon
as something changes, and the poller asks again no sooner than ``fast_ms`` after the previous
poll started (4 a second at most while uploads stream progress).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from upqueue.gui.background import Background

log = logging.getLogger(__name__)

FAST_MS = 250
SLOW_MS = 2000
LONG_POLL_S = 10.0  # how long the worker may hold a poll when nothing changes
FIRST_PAGE = 500  # uploads fetched (and painted) before the rest of a long queue


class QueueSource(Protocol):
    """What the poller needs from the worker: :class:`core.api_client.ApiClient` provides it.

    ``uploads(..., stats=True)`` adds ``"stats"`` to its answer; a source that leaves it out
    is asked ``stats()`` as well. ``interrupt_waits()``, when present, ends a long poll.
    """

    def uploads(
        self,
        since: int | None = None,
        *,
        limit: int | None = None,
        after_id: int | None = None,
        wait: float | None = None,
        stats: bool = False,
    ) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...


class Poller(QObject):
    """Fetches the queue, then its changes and totals by long polls.

    Args:
        background: runs the HTTP calls.
        parent: owner.
        fast_ms: the least time from one poll's start to the next's (a long poll answers as
            soon as something changes, so this caps the rate while progress streams in).
        slow_ms: the pause after a failed poll.
        long_poll_s: how long the worker may hold a poll with nothing new (0: no long polls).
        first_page: uploads in the first answer, painted before the rest is fetched.

    Signals:
        full(dict): the queue's first page ``{"seq", "uploads", ...}`` (first poll, or after a
            reset); the whole queue when it fits in one.
        more(dict): the rest of the queue after the first page (``"uploads"``, or ``"rows"``
            when ``prepare_full`` made them), in id order.
        changes(dict): ``{"seq", "uploads", "removed"}`` since the previous poll.
        stats(dict): ``GET /api/stats`` (counts, speed, active).
        failed(object): the exception of a failed poll (e.g. WorkerUnavailable).
        recovered(): a poll succeeded after one failed.
    """

    full = Signal(object)
    more = Signal(object)
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
        long_poll_s: float = LONG_POLL_S,
        first_page: int = FIRST_PAGE,
    ) -> None:
        super().__init__(parent)
        self._background = background
        self._source: QueueSource | None = None
        self.fast_ms = fast_ms
        self.slow_ms = slow_ms
        self.long_poll_s = long_poll_s
        self.first_page = first_page
        self.seq: int | None = None
        # After a first page: the last id it held (the rest comes next), else None.
        self._rest_after: int | None = None
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
        """The least time from the start of one poll to the start of the next, in ms.

        A long poll waits at the worker, so polling again soon costs nothing while nothing
        changes; ``slow_ms`` is the pause only after a failed poll.
        """
        return self.fast_ms

    def set_source(self, source: QueueSource | None, *, reload: bool = True) -> None:
        """Poll ``source`` from now on (None stops polling); ``reload`` fetches everything anew."""
        old, self._source = self._source, source
        if old is not None and old is not source:
            _interrupt(old)
        if reload:
            self.seq = None
            self._rest_after = None
        if source is None:
            self._timer.stop()
        else:
            self.poll_now()

    def stop(self) -> None:
        old, self._source = self._source, None
        self._timer.stop()
        if old is not None:
            _interrupt(old)  # a long poll in flight would hold the pool (and the window) open

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
        since, rest_after = self.seq, self._rest_after
        prepare = self.prepare_full
        first_page, long_poll = self.first_page, self.long_poll_s
        self._started = time.monotonic()

        def fetch() -> tuple[str, dict[str, Any], dict[str, Any] | None]:
            if since is None:
                kind = "full"
                changed = source.uploads(limit=first_page or None, stats=True)
            elif rest_after is not None:
                # The rest of the queue, in id order: no stats (the first page's are current).
                kind = "more"
                changed = source.uploads(after_id=rest_after)
            else:
                kind = "changes"
                changed = source.uploads(since=since, wait=long_poll or None, stats=True)
            if kind != "changes" and prepare is not None:
                changed = prepare(changed)
            totals = changed.pop("stats", None)
            if totals is None and kind != "more":
                totals = source.stats()  # a source that does not fold the counts in
            return kind, changed, totals

        self._background.run(fetch, self._on_result, self._on_error)

    def _on_result(self, result: tuple[str, dict[str, Any], dict[str, Any] | None]) -> None:
        self._in_flight = False
        if self._source is None:
            return
        kind, changed, totals = result
        if self._failing:
            self._failing = False
            self.recovered.emit()
        seq = changed.get("seq")
        if kind == "more":
            # The rest of the queue; the changes since the first page's counter come next.
            self._rest_after = None
            self.more.emit(changed)
        elif kind == "full":
            self.seq = seq
            self._rest_after = _rest_after(changed, self.first_page)
            self.full.emit(changed)
        elif self.seq is None or (seq is not None and seq < self.seq):
            # A counter that went backwards (a new data directory), or a reload asked for
            # while this poll was out: a "since" answer is not the whole queue; fetch it anew.
            self.seq = None
            self._rest_after = None
            self._schedule(0)
            return
        else:
            self.seq = seq
            if changed.get("uploads") or changed.get("removed"):
                self.changes.emit(changed)
        if totals is not None:
            self.active = bool(totals.get("active"))
            self.stats.emit(totals)
        if self._rest_after is not None:
            self._schedule(0)
            return
        # The interval runs from the start of this poll, so 250 ms means 4 polls a second.
        elapsed_ms = int((time.monotonic() - self._started) * 1000)
        self._schedule(0 if self._again else max(0, self.interval - elapsed_ms))

    def _on_error(self, error: BaseException) -> None:
        self._in_flight = False
        if self._source is None:
            return  # stopped: the interrupted long poll is no failure
        self._failing = True
        log.debug("poll failed: %s", error)
        self.failed.emit(error)
        self._schedule(self.slow_ms)

    def _schedule(self, ms: int) -> None:
        if self._source is not None:
            self._timer.start(ms)


def _rest_after(page: dict[str, Any], first_page: int) -> int | None:
    """The last id of a first page that did not hold the whole queue, else None."""
    total = page.get("total")
    count = len(page["rows"]) if "rows" in page else len(page.get("uploads") or ())
    if not first_page or total is None or count >= int(total) or count == 0:
        return None
    if "rows" in page:
        return int(page["rows"][-1].id)
    return int(page["uploads"][-1]["id"])


def _interrupt(source: Any) -> None:
    interrupt = getattr(source, "interrupt_waits", None)
    if interrupt is not None:
        interrupt()
