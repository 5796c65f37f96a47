"""The main window: the queue, its filters and actions, and the way into every dialog.

It talks to the worker only through the control API client that :class:`WorkerSupervisor`
holds, on a background pool; results come back as signals. The queue follows the worker
through :class:`Poller` (changes ``since`` the last counter), the rows live in
:class:`QueueModel`, and the filters in :class:`QueueFilter`. What the poller brings is handled
in gui.window_feed, closing and quitting in gui.window_closing, the signal wiring in
gui.window_wiring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from upqueue.core import paths
from upqueue.core.errors import UpqueueError
from upqueue.gui import icons, window_chrome, window_wiring
from upqueue.gui.background import Background
from upqueue.gui.batch_notices import BatchNotices
from upqueue.gui.dialog_host import DialogHost
from upqueue.gui.first_run import FirstRunPage
from upqueue.gui.icons import app_icon
from upqueue.gui.models.queue_filter import QueueFilter
from upqueue.gui.models.queue_model import QueueModel
from upqueue.gui.poller import Poller
from upqueue.gui.queue_controller import Prompts, QueueController, file_dialogs
from upqueue.gui.queue_view import QueueView, local_paths
from upqueue.gui.sidebar import Sidebar
from upqueue.gui.status_panel import StatusPanel
from upqueue.gui.tray import NotificationPolicy, Tray
from upqueue.gui.upload_actions import UploadActions
from upqueue.gui.window_closing import WindowClosing
from upqueue.gui.window_feed import WindowFeed, prepare_full
from upqueue.gui.worker_supervisor import WorkerState, WorkerSupervisor, default_connect

log = logging.getLogger(__name__)


class MainWindow(WindowFeed, WindowClosing, QMainWindow):
    """The upqueue window.

    Args:
        connect: ``connect(start) -> client`` (an :class:`core.api_client.ApiClient`); tests
            pass one returning their own client.
        start: connect at once (tests that drive the supervisor themselves pass False).
    """

    def __init__(
        self, connect: Callable[[bool], Any] = default_connect, *, start: bool = True
    ) -> None:
        super().__init__()
        self.setWindowTitle("upqueue")
        self.setWindowIcon(app_icon())
        self.setObjectName("main-window")
        self.setAcceptDrops(True)
        self.background = Background(self)
        self.supervisor = WorkerSupervisor(self.background, connect, self)
        self.model = QueueModel(self)
        self.proxy = QueueFilter(self)
        self.proxy.setSourceModel(self.model)
        self.poller = Poller(self.background, self)
        self.poller.prepare_full = prepare_full
        self.commands = UploadActions(self)
        self.tray = Tray(self)
        self.notifications = NotificationPolicy()
        self.batch_notices = BatchNotices(self.notifications, self.call, self.tray.notify, self)
        self.targets: list[dict[str, Any]] = []
        self.worker_settings: dict[str, Any] = {}
        self.stats: dict[str, Any] = {"counts": {}, "speed": 0.0, "active": 0}
        self.last_error: tuple[str, str] | None = None
        self.loaded = False  # the first full load of the queue arrived
        self.targets_loaded = False
        self._config_seen: Any = None  # the worker's "config" counter the window has loaded
        self._quitting = False
        self._told_about_tray = False
        # "Retrying in 12 s" counts down although the row itself does not change.
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self.view_refresh)
        self.ask_quit: Callable[[], str] = self._ask_quit
        self.view = QueueView(self.proxy)
        choose_files, choose_folder = file_dialogs(self)
        # Seams for tests (``window.prompts.confirm = …``): everything that would open a native
        # dialog or another program.
        self.prompts = Prompts(
            confirm=self._confirm,
            choose_files=choose_files,
            choose_folder=choose_folder,
            open_url=QDesktopServices.openUrl,
            say=lambda text, ms: self.statusBar().showMessage(text, ms),
            show_error=self.show_error,
            show_targets=self.show_targets,
            remember_target=window_chrome.remember_target,
        )
        self.controller = QueueController(
            self.call,
            self.view,
            self.poller,
            self.commands,
            self.prompts,
            lambda: (self.targets, self.targets_loaded),
            lambda: self.target_combo.currentData(),
            self,
        )
        self.dialog_host = DialogHost(
            self.call,
            self,
            targets_changed=self.load_targets,
            settings_applied=self._settings_loaded,
            show_batch=self.show_batch,
            targets=lambda: self.targets,
        )
        self.sidebar = Sidebar()
        self.first_run = FirstRunPage()
        self.status_panel = StatusPanel()
        self._build()
        window_wiring.connect(self)
        self._connect_feed()
        window_chrome.restore_layout(self, self.view.horizontalHeader(), self.splitter)
        self.controller.update_actions()
        if start:
            self.supervisor.start()

    # -- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.toolbar, self.search, self.target_combo = window_chrome.build_toolbar(
            self, self.commands
        )
        self.menu_bar = window_chrome.build_menus(
            self, self.commands, self._go_to, self.view.columns_menu
        )
        self.batch_bar = window_chrome.BatchBar()
        queue_page = QWidget()
        layout = QVBoxLayout(queue_page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.batch_bar)
        layout.addWidget(self.view)
        self.pages = QStackedWidget()
        self.pages.addWidget(queue_page)
        self.pages.addWidget(self.first_run)
        self._page_widgets: dict[str, QWidget] = {"queue": queue_page, "first_run": self.first_run}
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.pages)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self.statusBar().addPermanentWidget(self.status_panel)
        self.statusBar().setSizeGripEnabled(True)
        self.resize(1280, 720)

    def _connect_feed(self) -> None:
        self.sidebar.group_selected.connect(self._show_group)
        self.supervisor.client_changed.connect(self._client_changed)
        self.supervisor.state_changed.connect(self._worker_state)
        self.poller.full.connect(self._full)
        self.poller.more.connect(self._more)
        self.poller.changes.connect(self._changes)
        self.poller.stats.connect(self._stats)

    def _go_to(self, key: str) -> None:
        if key == "all":
            self.sidebar.select_group("all")
        else:
            self.sidebar.select_page(key)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def current_target(self) -> dict[str, Any] | None:
        return self.controller.current_target()

    def add_paths(self, paths_: list[str]) -> None:
        self.controller.add_paths(paths_)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        dropped = local_paths(event)
        if dropped:
            event.acceptProposedAction()
            self.controller.add_paths(dropped)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        window_chrome.fit_toolbar(self.toolbar, self.commands, self.width())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            # Light <-> dark: the monochrome icons are tinted with the text colour.
            icons.clear_cache()
            self.commands.refresh_icons()
            self.sidebar.refresh_icons()
        super().changeEvent(event)

    # -- talking to the worker ------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The current API client (None until the worker answers)."""
        return self.supervisor.client

    def call(
        self,
        fn: Callable[[Any], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``fn(client)`` off the GUI thread; errors are shown unless ``on_error`` handles them."""
        client = self.api
        if client is None:
            self.show_error(
                UpqueueError(
                    "The worker is not running",
                    "Wait until the status bar says “Worker running”, or restart it from there.",
                )
            )
            return
        self.background.run(lambda: fn(client), on_done, on_error or self.show_error)

    def show_error(self, error: BaseException) -> None:
        """Tell the person what went wrong, in words (never a traceback)."""
        if isinstance(error, UpqueueError):
            title, message = error.title, error.message
        else:
            log.error("unexpected error", exc_info=error)
            title = "Something went wrong"
            message = f"upqueue hit an unexpected problem; details are in {paths.LOG_FILE}."
        self.last_error = (title, message)
        self.supervisor.report_failure(error)
        self.statusBar().showMessage(f"{title}: {message}", 15000)
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("error-box")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _client_changed(self, client: Any) -> None:
        self._config_seen = None
        self.poller.set_source(client)
        self.load_targets()
        self.load_settings()

    def load_targets(self) -> None:
        self.call(lambda api: api.targets()["targets"], self._targets_loaded)

    def load_settings(self) -> None:
        self.call(lambda api: api.settings()["settings"], self._settings_loaded)

    def _targets_loaded(self, targets: list[dict[str, Any]]) -> None:
        self.targets = targets
        self.targets_loaded = True
        window_chrome.fill_targets(
            self.target_combo, targets, window_chrome.layout_state().value("target")
        )
        self._update_first_run()
        self.controller.targets_arrived()

    def _settings_loaded(self, settings: dict[str, Any]) -> None:
        self.worker_settings = settings

    def _worker_state(self, state: str, detail: str) -> None:
        self.status_panel.set_worker_state(state, detail)
        if state != WorkerState.RUNNING:
            self._forget_stats()
        if self.loaded:  # say what happens to the worker, not only in a tooltip
            self.statusBar().showMessage(detail, 10000)
        if state == WorkerState.STARTING and not self.loaded:
            self.view.placeholder = "Starting the worker…"
        elif state == WorkerState.UNREACHABLE and not self.loaded:
            self.view.placeholder = f"The worker does not answer.\n{detail}"
        else:
            self.view.placeholder = "Drop files or folders here, or press Ctrl+O to add files."
        self.view.viewport().update()

    # -- pages and dialogs ----------------------------------------------------------------

    def _update_first_run(self) -> None:
        first_run = self.loaded and not self.targets and self.model.rowCount() == 0
        current = self.pages.currentWidget()
        if first_run and current is self._page_widgets["queue"]:
            self.pages.setCurrentWidget(self.first_run)
        elif not first_run and current is self.first_run:
            self.pages.setCurrentWidget(self._page_widgets["queue"])

    def _show_group(self, group: str) -> None:
        self.proxy.set_group(group)
        self.pages.setCurrentWidget(self._page_widgets["queue"])
        self._update_first_run()

    def show_page(self, key: str) -> None:
        widget = self._page_widgets.get(key)
        if widget is None:
            widget = self.dialog_host.make_page(key)
            self._page_widgets[key] = widget
            self.pages.addWidget(widget)
        self.pages.setCurrentWidget(widget)
        refresh = getattr(widget, "refresh", None)
        if refresh:
            refresh()

    def show_batch(self, batch_id: int | None, label: str = "") -> None:
        """Show only one batch's uploads in the queue (None: all of them)."""
        self.proxy.set_batch(batch_id)
        self.batch_bar.show_batch(batch_id, label)
        if batch_id is not None:
            self.sidebar.select_group("all")
            self.pages.setCurrentWidget(self._page_widgets["queue"])

    def show_details(self, upload_id: int | None = None) -> None:
        ids = [upload_id] if upload_id else self.view.selected_ids()[:1]
        if ids:
            self.dialog_host.open_details(ids[0])

    def show_targets(self) -> None:
        self.dialog_host.open("targets")

    def show_settings(self) -> None:
        self.dialog_host.open("settings")

    def show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes
