"""The base of the main window's mixins (gui.window_feed, gui.window_closing): to mypy, what the
window builds in ``MainWindow.__init__`` and the methods of it they call, with their types.

At run time it is ``object``: the declarations exist for the type checker only, and naming
MainWindow here would be an import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMainWindow, QSplitter, QStackedWidget, QWidget
    from upqueue.gui.background import Background
    from upqueue.gui.batch_notices import BatchNotices
    from upqueue.gui.dialog_host import DialogHost
    from upqueue.gui.models.queue_model import QueueModel
    from upqueue.gui.poller import Poller
    from upqueue.gui.queue_controller import QueueController
    from upqueue.gui.queue_view import QueueView
    from upqueue.gui.sidebar import Sidebar
    from upqueue.gui.status_panel import StatusPanel
    from upqueue.gui.tray import NotificationPolicy, Tray
    from upqueue.gui.worker_supervisor import WorkerSupervisor

    class WindowPart(QMainWindow):
        background: Background
        supervisor: WorkerSupervisor
        model: QueueModel
        poller: Poller
        tray: Tray
        notifications: NotificationPolicy
        batch_notices: BatchNotices
        controller: QueueController
        dialog_host: DialogHost
        view: QueueView
        sidebar: Sidebar
        status_panel: StatusPanel
        pages: QStackedWidget
        splitter: QSplitter
        worker_settings: dict[str, Any]
        stats: dict[str, Any]
        loaded: bool
        ask_quit: Callable[[], str]
        _countdown: QTimer
        _config_seen: Any  # the worker's "config" counter the window has loaded
        _quitting: bool
        _told_about_tray: bool
        _page_widgets: dict[str, QWidget]

        @property
        def api(self) -> Any: ...
        def load_targets(self) -> None: ...
        def load_settings(self) -> None: ...
        def _worker_state(self, state: str, detail: str) -> None: ...
        def _update_first_run(self) -> None: ...
else:
    WindowPart = object
