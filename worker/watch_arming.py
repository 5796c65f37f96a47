"""Arming a watched folder and keeping it armed: its watchdog observer started, its health
checked (still there, still the same folder, the observer still alive), and the
unavailable/re-arm cycle with its backoff. Mixed into :class:`worker.watch_runner.WatchRunner`
and run on the runner's thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from upqueue.core.watchrules import Settle, WatchState
from upqueue.worker.watch_events import EventHandler
from upqueue.worker.watch_folder import (
    EVENT_FILTER,
    FolderUnavailable,
    describe,
    make_observer,
    probe,
    stop_observer,
)
from upqueue.worker.watch_spec import RunnerSink, WatchSpec
from watchdog.events import FileSystemEvent
from watchdog.observers.api import BaseObserver

# The runner's logger: these are its messages.
log = logging.getLogger("upqueue.worker.watch_runner")


class FolderArming:
    """Mixed into WatchRunner; uses its ``spec``, ``sink``, ``clock``, timing constants, root,
    pending and held files, and its ``_scan`` and ``_accept``."""

    HEALTH_INTERVAL: float
    BACKOFF: tuple[float, ...]
    POLLING_INTERVAL: float
    spec: WatchSpec
    sink: RunnerSink
    clock: Callable[[], float]
    state: WatchState
    message: str | None
    _root: str
    _root_real: str
    _pending: dict[str, Settle]
    _held: set[str]
    _observer: BaseObserver | None
    _identity: tuple[int, int] | None
    _backoff_step: int
    _next_arm: float
    _next_health: float
    _scan: Callable[[str], None]
    _accept: Callable[[FileSystemEvent], None]

    # -- arming, health and backoff -----------------------------------------------------------
    def _try_arm(self) -> None:
        try:
            self._arm()
        except FolderUnavailable as problem:
            self._go_unavailable(str(problem))
        except OSError as error:
            self._go_unavailable(describe(self._root, error))
        else:
            self._backoff_step = 0
            self._set_state(WatchState.WATCHING, None)
            try:
                self._scan(self._root)
            except OSError as error:
                self._go_unavailable(describe(self._root, error))

    def _arm(self) -> None:
        self._identity = probe(self._root)
        self._root_real = os.path.realpath(self._root)
        observer = make_observer(self.spec.polling, self.POLLING_INTERVAL)
        try:
            observer.schedule(
                EventHandler(self._accept, spec_id=self.spec.id),
                self._root,
                recursive=self.spec.recursive,
                event_filter=EVENT_FILTER,
                # watchdog 7 can follow links to folders; the walker (core/walk.py) never does,
                # so the events and the scans see the same tree.
                follow_symlink=False,
            )
            observer.start()
        except BaseException:
            stop_observer(observer)
            raise
        self._observer = observer
        self._next_health = self.clock() + self.HEALTH_INTERVAL

    def _health_problem(self) -> str | None:
        try:
            identity = probe(self._root)
        except FolderUnavailable as problem:
            return str(problem)
        except OSError as error:
            return describe(self._root, error)
        if identity != self._identity:
            # Removed and made again, or a different drive mounted there: the old observer is
            # watching something that is gone, so arm afresh (and scan) right away.
            log.info("watch %s: %s was replaced; watching the new folder", self.spec.id, self._root)
            self._disarm()
            self._pending.clear()
            self._held.clear()
            self._try_arm()
            return None
        if self._observer is not None and not self._observer.is_alive():
            return f"The watcher for {self._root} stopped; starting it again."
        return None

    def _go_unavailable(self, message: str) -> None:
        self._disarm()
        self._pending.clear()
        self._held.clear()
        delay = self.BACKOFF[min(self._backoff_step, len(self.BACKOFF) - 1)]
        self._backoff_step += 1
        self._next_arm = self.clock() + delay
        self._set_state(WatchState.UNAVAILABLE, message)

    def _set_state(self, state: WatchState, message: str | None) -> None:
        if (state, message) == (self.state, self.message):
            return
        self.state, self.message = state, message
        try:
            self.sink.set_state(self.spec.id, state, message)
        except Exception:
            log.exception("watch %s: could not record state %s", self.spec.id, state)

    def _disarm(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            stop_observer(observer)
