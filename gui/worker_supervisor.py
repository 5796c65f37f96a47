"""Knowing whether the worker answers, connecting to it, and starting it again when asked.

The window never imports the worker: it reaches it through :class:`core.api_client.ApiClient`,
whose ``connect(start=True)`` finds a running worker or starts one as a separate process.
That call can take seconds, so it runs on the background pool while the window says
"starting worker…".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.errors import UpqueueError
from gui.background import Background

log = logging.getLogger(__name__)

RECONNECT_MS = 3000


class WorkerState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    UNREACHABLE = "unreachable"


def default_connect(start: bool) -> Any:
    """Find this data directory's worker (and start one when ``start``)."""
    from core.api_client import ApiClient

    return ApiClient.connect(start=start)


class WorkerSupervisor(QObject):
    """Holds the API client and the worker's state.

    Args:
        background: where the (slow) connect runs.
        connect: ``connect(start: bool) -> client``; raises an UpqueueError when no worker
            answers. Tests pass one that returns their client.
        parent: owner.

    Signals:
        state_changed(str, str): the new :class:`WorkerState` and a sentence for people.
        client_changed(object): a new client (after a connect or a restart).
    """

    state_changed = Signal(str, str)
    client_changed = Signal(object)

    def __init__(
        self,
        background: Background,
        connect: Callable[[bool], Any] = default_connect,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._background = background
        self._connect = connect
        self.client: Any = None
        self.state = WorkerState.STARTING
        self.detail = "Starting the worker…"
        self._connecting = False
        # While unreachable, look again now and then: someone may have started a worker
        # (the CLI, a service manager), and it may sit on a new port.
        self._reconnect = QTimer(self)
        self._reconnect.setInterval(RECONNECT_MS)
        self._reconnect.timeout.connect(lambda: self._try(start=False))

    def start(self) -> None:
        """Connect, starting a worker when none runs."""
        self._set(WorkerState.STARTING, "Starting the worker…")
        self._try(start=True)

    def restart(self) -> None:
        """Start the worker again (after it crashed or was stopped)."""
        self.start()

    def report_failure(self, error: BaseException) -> None:
        """A call to the worker failed; decide whether it is gone."""
        from core.api_client import WorkerUnavailable

        if isinstance(error, WorkerUnavailable) and self.state != WorkerState.STARTING:
            self._set(WorkerState.UNREACHABLE, f"{error.title}. {error.message}")
            if not self._reconnect.isActive():
                self._reconnect.start()

    def report_ok(self) -> None:
        """A call to the worker succeeded."""
        if self.state != WorkerState.RUNNING and self.client is not None:
            self._reconnect.stop()
            self._set(WorkerState.RUNNING, "The worker is running.")

    def stop(self) -> None:
        self._reconnect.stop()

    def _try(self, start: bool) -> None:
        if self._connecting:
            return
        self._connecting = True
        self._background.run(
            lambda: self._connect(start), self._connected, lambda e: self._failed(e, start)
        )

    def _connected(self, client: Any) -> None:
        self._connecting = False
        self._reconnect.stop()
        changed = client is not self.client
        self.client = client
        self._set(WorkerState.RUNNING, "The worker is running.")
        if changed:
            self.client_changed.emit(client)

    def _failed(self, error: BaseException, started: bool) -> None:
        self._connecting = False
        if isinstance(error, UpqueueError):
            detail = f"{error.title}. {error.message}"
        else:
            log.error("connecting to the worker failed", exc_info=error)
            detail = "Could not reach the worker; see the log for details."
        if started or self.state != WorkerState.UNREACHABLE:
            self._set(WorkerState.UNREACHABLE, detail)
        if not self._reconnect.isActive():
            self._reconnect.start()

    def _set(self, state: WorkerState, detail: str) -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            self.state_changed.emit(state.value, detail)
