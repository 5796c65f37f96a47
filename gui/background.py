"""Running API calls off the GUI thread and handing their results back to it.

Every call to the worker is an HTTP request; even on 127.0.0.1 it must never freeze the
window. :class:`Background` runs a callable on a small thread pool and delivers the result (or
the exception) to callbacks in the GUI thread, through a queued signal.

One long-lived relay object carries every result (tagged with the call's number): creating and
dropping a QObject per call would let the last reference go on a pool thread, and a QObject
must not be destroyed outside the thread it lives in.
"""

from __future__ import annotations

import itertools
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
        finished(int, bool, object): ``(call number, ok, result or exception)``.
    """

    finished = Signal(int, bool, object)


class _Job(QRunnable):
    def __init__(self, number: int, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._number = number
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread to show
            self._relay.finished.emit(self._number, False, exc)
        else:
            self._relay.finished.emit(self._number, True, result)
        # Drop what the call produced here, not whenever the runnable happens to be freed.
        self._fn = None  # type: ignore[assignment]


class Background(QObject):
    """A thread pool whose results come back to the GUI thread.

    Args:
        parent: owner; call :meth:`close` before it goes so no callback runs late.
        threads: how many calls may run at once.
    """

    def __init__(self, parent: QObject | None = None, threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        # Owned by Python (no parent) and referenced by every job, so it outlives them all.
        self._relay = _Relay()
        self._relay.finished.connect(self._deliver)
        self._callbacks: dict[int, tuple[OnDone | None, OnError | None]] = {}
        self._numbers = itertools.count(1)
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
        number = next(self._numbers)
        self._callbacks[number] = (on_done, on_error)
        self._pool.start(_Job(number, fn, self._relay))

    @property
    def busy(self) -> bool:
        """Whether a call has not delivered its result yet."""
        return bool(self._callbacks)

    @Slot(int, bool, object)
    def _deliver(self, number: int, ok: bool, payload: Any) -> None:
        on_done, on_error = self._callbacks.pop(number, (None, None))
        if self.closed:
            return
        if ok:
            if on_done is not None:
                on_done(payload)
        elif on_error is not None:
            on_error(payload)
        else:
            log.warning("background call failed: %r", payload)

    def close(self, wait_ms: int = 5000) -> None:
        """Stop delivering results and wait (bounded) for running calls to return."""
        self.closed = True
        self._pool.clear()
        self._pool.waitForDone(wait_ms)
        self._callbacks.clear()
