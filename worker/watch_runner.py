"""One watched folder in the worker: its watchdog observer, the debounce, the settle checks, the
scans, and the unavailable/re-arm cycle (arming and health checks in worker/watch_arming.py).

A ``WatchRunner`` owns one thread. watchdog's handler only filters names and queues events; the
runner's thread waits until the stream goes quiet, collapses the burst (``core.watchrules``),
tracks each candidate until its size and mtime held still for the settle time and it can be
opened, and hands settled files to a :class:`RunnerSink` (the ``WatchManager``), which dedups,
submits and records. The runner never touches state.db itself, which keeps it testable with a
fake sink, and it never lets an exception out of its thread: a watch cannot crash the worker.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from upqueue.core.walk import Skipped, walk
from upqueue.core.watchrules import (
    Change,
    FileKey,
    FsEvent,
    Settle,
    WatchState,
    collapse,
    group_units,
    observe,
    settle_wait,
    settled,
)
from upqueue.worker.incomplete_sets import IncompleteSets
from upqueue.worker.incomplete_sets import wait_for as incomplete_wait
from upqueue.worker.watch_arming import FolderArming
from upqueue.worker.watch_events import EventFilter
from upqueue.worker.watch_folder import can_open, describe, file_key
from upqueue.worker.watch_spec import ReadyUnit, RunnerSink, WatchSpec
from watchdog.events import FileSystemEvent
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

__all__ = ["ReadyUnit", "RunnerSink", "WatchRunner", "WatchSpec"]


class WatchRunner(FolderArming):
    """Watches one folder on its own thread until :meth:`stop`.

    Args:
        spec: the watch.
        sink: where settled files, the end of a round and state changes go.
        clock: monotonic seconds; injectable for tests.
    """

    QUIET = 0.15  # the stream is quiet after this long without an event
    MAX_DEBOUNCE = 1.0  # ...but a never-quiet stream is still looked at this often
    HEALTH_INTERVAL = 1.0  # seconds between checks that the folder is still there
    BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # re-arm attempts while unavailable
    SUBMIT_RETRY = 5.0  # after a failed submission
    POLLING_INTERVAL = 1.0  # the polling observer's period
    ROUND_QUIET_MIN = 1.0  # a round (a batch) ends after at least this long without activity

    def __init__(
        self, spec: WatchSpec, sink: RunnerSink, *, clock: Callable[[], float] = time.monotonic
    ):
        self.spec = spec
        self.sink = sink
        self.clock = clock
        self.state = WatchState.STARTING
        self.message: str | None = None
        self._root = spec.path
        self._root_real = os.path.realpath(spec.path)
        self._filter = EventFilter(spec)
        self._events: queue.SimpleQueue[FsEvent | None] = queue.SimpleQueue()
        self._pending: dict[str, Settle] = {}
        self._stop = threading.Event()
        self._rescan = threading.Event()
        self._check_health = threading.Event()
        self._observer: BaseObserver | None = None
        self._identity: tuple[int, int] | None = None
        self._backoff_step = 0
        self._next_arm = 0.0
        self._next_health = 0.0
        self._submit_after = 0.0
        self._round_open = False
        self._held: set[str] = set()  # settled, but waiting for the rest of their set
        self._incomplete = IncompleteSets(incomplete_wait(spec.settle_seconds))
        self._last_activity = clock()  # the last event queued, or the end of a submission
        self._round_quiet = max(spec.settle_seconds, self.ROUND_QUIET_MIN)
        self._thread = threading.Thread(target=self._run, name=f"watch-{spec.id}", daemon=True)

    # -- control (any thread) ----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; returns once the thread and the observer are gone (or ``timeout``)."""
        self._stop.set()
        self._events.put(None)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._disarm()

    def request_rescan(self) -> None:
        """Scan the whole folder soon (and try to re-arm at once if it is unavailable)."""
        self._rescan.set()
        self._events.put(None)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the handler's side (watchdog's thread) -------------------------------------------
    def _accept(self, event: FileSystemEvent) -> None:
        seen = self._filter.translate(event)
        if seen is None:
            return
        if not isinstance(seen, FsEvent):  # ROOT_CHANGED: the folder itself moved or went
            self._check_health.set()
            self._events.put(None)
            return
        self._events.put(seen)
        self._last_activity = self.clock()

    # -- the runner's thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:
                log.exception("watch %s: unexpected error; carrying on", self.spec.id)
                self._stop.wait(1.0)
        self._disarm()

    def _step(self) -> None:
        now = self.clock()
        if self._observer is None:
            if now >= self._next_arm or self._rescan.is_set():
                self._rescan.clear()
                self._try_arm()
            if self._observer is None:
                self._wait(self._next_arm - self.clock())
                return
        burst = self._collect(self._wake_in())
        if self._stop.is_set():
            return
        if burst:
            self._last_activity = self.clock()
            self._apply(collapse(burst))
        if self._check_health.is_set() or self.clock() >= self._next_health:
            self._check_health.clear()
            self._next_health = self.clock() + self.HEALTH_INTERVAL
            problem = self._health_problem()
            if problem is not None:
                self._go_unavailable(problem)
                return
            if self._observer is None:  # re-armed after a replacement, and that failed
                return
        if self._rescan.is_set():
            self._rescan.clear()
            try:
                self._scan(self._root)
            except OSError as error:
                self._go_unavailable(describe(self._root, error))
                return
        self._check_pending()

    def _wake_in(self) -> float:
        now = self.clock()
        wake = self._next_health
        waiting = [t for p, t in self._pending.items() if p not in self._held]
        if waiting:
            soonest = min(settle_wait(t, self.spec.settle_seconds, now) for t in waiting)
            pending_wake = now + max(soonest, 0.05)
            if self._submit_after > now:
                pending_wake = max(pending_wake, self._submit_after)
            wake = min(wake, pending_wake)
        if self._round_open and not waiting:
            wake = min(wake, self._last_activity + self._round_quiet)
        due = self._incomplete.next_due()
        if due is not None:
            wake = min(wake, max(due, now + 0.05))
        return max(0.0, wake - now)

    def _wait(self, seconds: float) -> None:
        try:
            self._events.get(timeout=max(0.01, seconds))
        except queue.Empty:
            pass

    def _collect(self, timeout: float) -> list[FsEvent]:
        """Block up to ``timeout`` for an event, then gather until the stream is quiet."""
        burst: list[FsEvent] = []
        try:
            first = self._events.get(timeout=max(0.01, timeout))
        except queue.Empty:
            return burst
        if first is not None:
            burst.append(first)
        deadline = self.clock() + self.MAX_DEBOUNCE
        while burst and not self._stop.is_set():
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            try:
                item = self._events.get(timeout=min(self.QUIET, remaining))
            except queue.Empty:
                break
            if item is not None:
                burst.append(item)
        return burst

    def _apply(self, changes: dict[str, Change]) -> None:
        for path, change in changes.items():
            if change is Change.DELETED:
                self._pending.pop(path, None)
                prefix = path + os.sep
                for other in [p for p in self._pending if p.startswith(prefix)]:
                    del self._pending[other]
            elif change is Change.DIR_ADDED:
                if os.path.isdir(path) and not os.path.islink(path):
                    self._scan(path)
            else:
                self._consider(path, complete=change is Change.ARRIVED)

    def _consider(self, path: str, *, complete: bool) -> None:
        key = self._key(path)
        if key is None or not self.sink.is_new(self.spec.id, path, key):
            self._pending.pop(path, None)
            return
        if self._incomplete.still_refused(path, key):
            return  # the set was refused as it is; a change to it brings it back
        for other in self._incomplete.come_back(path):
            self._consider(other, complete=True)
        now = self.clock()
        previous = self._pending.get(path)
        self._pending[path] = Settle(key, now, True) if complete else observe(previous, key, now)
        self._round_open = True

    def _key(self, path: str, *, check_links: bool = True) -> FileKey | None:
        return file_key(path, self._root_real, check_links=check_links)

    def _scan(self, top: str) -> None:
        """Consider every wanted file under ``top`` (a full scan when ``top`` is the root).

        The walk is :func:`core.walk.walk`, the one ``add -r`` and a dropped folder use.
        """

        def skipped(entry: Skipped) -> None:
            log.info("watch %s: %s", self.spec.id, entry.message)

        found = walk(
            top,
            root=self._root,
            recursive=self.spec.recursive,
            include=self.spec.include,
            exclude=self.spec.exclude,
            skip=self._filter.skipped,
            on_skip=skipped,
            should_stop=self._stop.is_set,
        )
        try:
            for path in found:
                if self._stop.is_set():
                    break
                if path not in self._pending:
                    self._consider(path, complete=False)
        except OSError as error:
            if top == self._root:
                raise  # the caller says the folder is unavailable
            log.info("watch %s: cannot list %s: %s", self.spec.id, top, error)
        self._round_open = True
        self._last_activity = self.clock()

    def _check_pending(self) -> None:
        now = self.clock()
        ready: list[str] = []
        for path, tracking in list(self._pending.items()):
            key = self._key(path, check_links=False)
            if key is None:
                del self._pending[path]
                continue
            tracking = observe(tracking, key, now)
            self._pending[path] = tracking
            if settled(tracking, self.spec.settle_seconds, now):
                ready.append(path)
        self._held &= set(ready)  # a held file written again is waiting, not held
        if ready and now >= self._submit_after:
            self._submit(ready)
        if (
            self._round_open
            # Files held back by their set (a shapefile without its .prj) may wait for days;
            # they do not keep the round, and its batch, open.
            and self._pending.keys() <= self._held
            and self._events.empty()
            and self.clock() - self._last_activity >= self._round_quiet
        ):
            self._round_open = False
            self.sink.round_finished(self.spec.id)

    def _submit(self, ready: list[str]) -> None:
        sendable: list[str] = []
        for path in ready:
            tracking = self._pending[path]
            key = self._key(path)  # with the link check this time
            if key is None or not self.sink.is_new(self.spec.id, path, key):
                del self._pending[path]  # gone, a link out of the folder, or sent already
            elif key != tracking.key:
                self._pending[path] = observe(tracking, key, self.clock())  # written again
            elif can_open(path):
                sendable.append(path)
        units, waiting = group_units(sendable, self._pending.keys(), datasets=self.spec.datasets)
        self._held = set(waiting)
        self._refuse_overdue_sets(waiting)
        if not units:
            return
        ready_units = [
            ReadyUnit(u.primary, {m: self._pending[m].key for m in u.members}) for u in units
        ]
        try:
            self.sink.submit(self.spec.id, ready_units)
        except Exception:
            log.exception(
                "watch %s: submitting %d files failed; trying again", self.spec.id, len(units)
            )
            self._submit_after = self.clock() + self.SUBMIT_RETRY
            return
        for unit in units:
            for member in unit.members:
                self._pending.pop(member, None)
        # Events that arrived while we were submitting may still be on their way (watchdog
        # delivers them on its own thread): the quiet that ends a round starts only now.
        self._last_activity = self.clock()

    def _refuse_overdue_sets(self, waiting: list[str]) -> None:
        now = self.clock()
        self._incomplete.held(waiting, now)
        for overdue in self._incomplete.overdue(self._pending.keys(), now):
            try:
                self.sink.refuse(
                    self.spec.id, overdue.primary, overdue.error.title, overdue.error.message
                )
            except Exception:
                log.exception("watch %s: refusing %s failed", self.spec.id, overdue.primary)
                continue
            keys = {m: self._pending[m].key for m in overdue.members if m in self._pending}
            self._incomplete.refused(keys)
            for member in overdue.members:
                self._pending.pop(member, None)
                self._held.discard(member)
            # the refusal is in a batch: the round ends (and the batch with it) once quiet
            self._round_open = True
            self._last_activity = now
