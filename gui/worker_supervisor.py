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

from upqueue.core.errors import UpqueueError
from upqueue.gui.background import Background

log = logging.getLogger(__name__)

RECONNECT_MS = 3000
# Seconds before each attempt to start again a worker that this window started and that died.
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


class WorkerState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    UNREACHABLE = "unreachable"


def default_connect(start: bool) -> Any:
    """Find this data directory's worker (and start one when ``start``)."""
    from upqueue.core.api_client import ApiClient

    return ApiClient.connect(start=start)


def worker_died() -> bool:
    """The worker went away without stopping: a graceful stop (`upqueue stop`, Quit) removes
    its worker.json; a killed or crashed one leaves it behind."""
    from upqueue.core import paths

    return (paths.data_dir() / paths.ENDPOINT_FILE).exists()


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
        died: Callable[[], bool] = worker_died,
    ) -> None:
        super().__init__(parent)
        self._background = background
        self._connect = connect
        self._died = died
        # Set once this window started (or found) the worker itself: then it also starts it
        # again when it dies, with a growing pause between attempts.
        self._restarts_worker = False
        self._restart_attempt = 0
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.timeout.connect(self._restart_now)
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
        self._restarts_worker = True
        self._set(WorkerState.STARTING, "Starting the worker…")
        self._try(start=True)

    def restart(self) -> None:
        """Start the worker again (after it crashed or was stopped)."""
        self.start()

    def report_failure(self, error: BaseException) -> None:
        """A call to the worker failed; decide whether it is gone."""
        from upqueue.core.api_client import WorkerUnavailable

        if isinstance(error, WorkerUnavailable) and self.state != WorkerState.STARTING:
            if self._restarts_worker and self._died():
                self._schedule_restart()
                return
            self._set(WorkerState.UNREACHABLE, f"{error.title}. {error.message}")
            if not self._reconnect.isActive():
                self._reconnect.start()

    def _schedule_restart(self) -> None:
        if self._restart_timer.isActive() or self._connecting:
            return
        delay = RESTART_BACKOFF[min(self._restart_attempt, len(RESTART_BACKOFF) - 1)]
        self._restart_attempt += 1
        self._reconnect.stop()
        self._set(
            WorkerState.UNREACHABLE,
            f"The worker stopped unexpectedly; starting it again in {delay:g} s "
            f"(attempt {self._restart_attempt}).",
        )
        self._restart_timer.start(int(delay * 1000))

    def _restart_now(self) -> None:
        self._set(
            WorkerState.STARTING,
            f"The worker stopped unexpectedly; starting it again (attempt {self._restart_attempt})…",
        )
        self._try(start=True)

    def report_ok(self) -> None:
        """A call to the worker succeeded."""
        if self.state != WorkerState.RUNNING and self.client is not None:
            self._reconnect.stop()
            self._set(WorkerState.RUNNING, "The worker is running.")

    def stop(self) -> None:
        self._reconnect.stop()
        self._restart_timer.stop()
        self._restarts_worker = False

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
        restarted = self._restart_attempt > 0
        self._restart_attempt = 0
        self._set(
            WorkerState.RUNNING,
            "The worker stopped unexpectedly and was started again." if restarted
            else "The worker is running.",
        )
        if changed:
            self.client_changed.emit(client)

    def _failed(self, error: BaseException, started: bool) -> None:
        self._connecting = False
        if isinstance(error, UpqueueError):
            detail = f"{error.title}. {error.message}"
        else:
            log.error("connecting to the worker failed", exc_info=error)
            detail = "Could not reach the worker; see the log for details."
        if started and self._restart_attempt and self._restarts_worker:
            self._schedule_restart()  # the next attempt, after a longer pause
            return
        if started or self.state != WorkerState.UNREACHABLE:
            self._set(WorkerState.UNREACHABLE, detail)
        if not self._reconnect.isActive():
            self._reconnect.start()

    def _set(self, state: WorkerState, detail: str) -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            self.state_changed.emit(state.value, detail)
