"""Running API calls off the GUI thread and handing their results back to it.

Every call to the worker is an HTTP request; even on 127.0.0.1 it must never freeze the
window. :class:`Background` runs a callable on a small thread pool and delivers the result (or
the exception) to callbacks in the GUI thread, through a queued signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

OnDone = Callable[[Any], None]
OnError = Callable[[BaseException], None]


class _Relay(QObject):
    """Lives in the GUI thread; a signal emitted from a pool thread reaches it queued.

    Signals:
        finished(bool, object): ``(ok, result or exception)``.
    """

    finished = Signal(bool, object)

    def __init__(self, owner: Background, on_done: OnDone | None, on_error: OnError | None) -> None:
        super().__init__()
        self._owner = owner
        self._on_done = on_done
        self._on_error = on_error
        self.finished.connect(self._deliver)

    @Slot(bool, object)
    def _deliver(self, ok: bool, payload: Any) -> None:
        self._owner._relays.discard(self)
        if self._owner.closed:
            return
        try:
            if ok:
                if self._on_done is not None:
                    self._on_done(payload)
            elif self._on_error is not None:
                self._on_error(payload)
            else:
                log.warning("background call failed: %r", payload)
        finally:
            self._owner._finished_one()


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread to show
            self._relay.finished.emit(False, exc)
        else:
            self._relay.finished.emit(True, result)


class Background(QObject):
    """A thread pool whose results come back to the GUI thread.

    Args:
        parent: owner; when it goes, call :meth:`close` first so no callback runs late.
        threads: how many calls may run at once.
    """

    def __init__(self, parent: QObject | None = None, threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        # Relays must outlive their job: Python holds them here until delivery.
        self._relays: set[_Relay] = set()
        self._pending = 0
        self.closed = False

    def run(
        self,
        fn: Callable[[], Any],
        on_done: OnDone | None = None,
        on_error: OnError | None = None,
    ) -> None:
        """Call ``fn()`` on a pool thread; then ``on_done(result)`` or ``on_error(exc)`` here."""
        if self.closed:
            return
        relay = _Relay(self, on_done, on_error)
        self._relays.add(relay)
        self._pending += 1
        self._pool.start(_Job(fn, relay))

    @property
    def busy(self) -> bool:
        """Whether a call has not delivered its result yet."""
        return self._pending > 0

    def _finished_one(self) -> None:
        self._pending = max(0, self._pending - 1)

    def close(self, wait_ms: int = 5000) -> None:
        """Stop delivering results and wait (bounded) for running calls to return."""
        self.closed = True
        self._pool.clear()
        self._pool.waitForDone(wait_ms)
        self._relays.clear()
