"""The main window's furniture: toolbar, menus, the batch bar, and opening its pages and dialogs.

Kept apart from :mod:`gui.main_window` so that the window's file holds its behaviour and this
one its layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenuBar,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QToolButton,
    QWidget,
)

from core import paths
from gui.icons import icon
from gui.upload_actions import UploadActions

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def build_toolbar(window: MainWindow, acts: UploadActions) -> tuple[QToolBar, QLineEdit, QComboBox]:
    """The toolbar: add, the target to add to, per-selection actions, search, dialogs."""
    bar = QToolBar("Main toolbar", window)
    bar.setObjectName("main-toolbar")
    bar.setMovable(False)
    bar.setIconSize(QSize(20, 20))
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    window.addToolBar(bar)
    for key in ("add_files", "add_folder"):
        bar.addAction(acts[key])
        button = bar.widgetForAction(acts[key])
        if isinstance(button, QToolButton):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    label = QLabel("  to ")
    bar.addWidget(label)
    combo = QComboBox()
    combo.setObjectName("target-combo")
    combo.setToolTip("The target (server) new files are uploaded to")
    combo.setMinimumContentsLength(12)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    bar.addWidget(combo)
    bar.addSeparator()
    for key in ("pause", "resume", "cancel", "retry", "remove"):
        bar.addAction(acts[key])
    bar.addSeparator()
    for key in ("pause_all", "resume_all"):
        bar.addAction(acts[key])
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    search = QLineEdit()
    search.setObjectName("search")
    search.setPlaceholderText("Search by name  (Ctrl+F)")
    search.setClearButtonEnabled(True)
    search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    search.setMinimumWidth(220)
    search.setMaximumWidth(320)
    bar.addWidget(search)
    bar.addSeparator()
    for key in ("targets", "settings"):
        bar.addAction(acts[key])
    return bar, search, combo


def build_menus(window: MainWindow, acts: UploadActions) -> QMenuBar:
    menus = window.menuBar()
    file_menu = menus.addMenu("&File")
    for key in ("add_files", "add_folder", None, "quit"):
        file_menu.addSeparator() if key is None else file_menu.addAction(acts[key])
    edit_menu = menus.addMenu("&Edit")
    for key in ("select_all", "search"):
        edit_menu.addAction(acts[key])
    uploads = menus.addMenu("&Uploads")
    for key in (
        "pause",
        "resume",
        "cancel",
        "retry",
        "remove",
        None,
        "pause_all",
        "resume_all",
        None,
        "open_folder",
        "copy_url",
        "details",
    ):
        uploads.addSeparator() if key is None else uploads.addAction(acts[key])
    view = menus.addMenu("&View")
    view.addAction(icon("all"), "&Queue", lambda: window.sidebar.select_group("all"))
    view.addAction(icon("watch"), "&Watched Folders", lambda: window.sidebar.select_page("watches"))
    view.addAction(icon("history"), "&History", lambda: window.sidebar.select_page("history"))
    tools = menus.addMenu("&Tools")
    for key in ("targets", "settings"):
        tools.addAction(acts[key])
    help_menu = menus.addMenu("&Help")
    help_menu.addAction("&About upqueue", lambda: about(window))
    return menus


def about(window: QWidget) -> None:
    QMessageBox.about(
        window,
        "About upqueue",
        "<h3>upqueue</h3><p>An upload manager: queue files, watch them go up to a server, "
        "pause and resume, and trust that a crash, a reboot or a flaky network loses nothing.</p>",
    )


def fill_targets(combo: QComboBox, targets: list[dict[str, Any]], remembered: Any) -> None:
    """Put the targets in the toolbar's combo, keeping the chosen (or remembered) one."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for target in targets:
        combo.addItem(icon("targets"), target["name"], target["id"])
        combo.setItemData(combo.count() - 1, target["url"], Qt.ItemDataRole.ToolTipRole)
    wanted = current if current is not None else remembered
    for number in range(combo.count()):
        if str(combo.itemData(number)) == str(wanted):
            combo.setCurrentIndex(number)
            break
    combo.blockSignals(False)
    combo.setEnabled(bool(targets))
    if not targets:
        combo.addItem("no target yet")


class BatchBar(QWidget):
    """ "Showing batch 12 — Show all": shown while the queue is limited to one batch.

    Signals:
        cleared(): the person wants every upload again.
    """

    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batch-bar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel()
        button = QPushButton("Show all uploads")
        button.setObjectName("batch-clear")
        button.clicked.connect(self.cleared)
        layout.addWidget(QLabel(pixmap=icon("batch").pixmap(16, 16)))
        layout.addWidget(self.label, 1)
        layout.addWidget(button)
        self.hide()

    def show_batch(self, batch_id: int | None, label: str = "") -> None:
        if batch_id is None:
            self.hide()
            return
        self.label.setText(
            f"Showing the uploads of batch {batch_id}" + (f" — {label}" if label else "")
        )
        self.show()


def make_page(key: str, window: MainWindow) -> QWidget:
    """The Watched folders or History page, made on first use."""
    if key == "history":
        from gui.history_view import HistoryView

        return HistoryView(window.call)
    if key == "watches":
        from gui.watches_view import WatchesView

        return WatchesView(window.call, window.show_batch, lambda: window.targets)
    raise ValueError(f"unknown page {key!r}")


def open_dialog(window: MainWindow, key: str) -> QWidget:
    """Open (or bring forward) the Targets or Settings dialog."""
    dialog = window._dialogs.get(key)
    if dialog is None:
        if key == "targets":
            from gui.targets_dialog import TargetsDialog

            dialog = TargetsDialog(window.call, window)
            dialog.changed.connect(window.load_targets)
        elif key == "settings":
            from gui.settings_dialog import SettingsDialog

            dialog = SettingsDialog(window.call, window)
            dialog.applied.connect(window._settings_loaded)
        else:
            raise ValueError(f"unknown dialog {key!r}")
        window._dialogs[key] = dialog
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    refresh = getattr(dialog, "refresh", None)
    if refresh:
        refresh()
    return dialog


def open_details(window: MainWindow, upload_id: int) -> QWidget:
    """The details of one upload (one dialog per upload; opening it again raises it)."""
    from gui.details_dialog import DetailsDialog

    key = f"details-{upload_id}"
    dialog = window._dialogs.get(key)
    if dialog is None:
        dialog = DetailsDialog(window.call, upload_id, window)
        dialog.finished.connect(lambda _result: window._dialogs.pop(key, None))
        window._dialogs[key] = dialog
    dialog.show()
    dialog.raise_()
    return dialog


def ask_quit(window: QWidget, active: int) -> str:
    """Ask what happens to running uploads on quit: "keep", "stop" or "cancel"."""
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit upqueue")
    box.setText(f"{active:,} upload(s) are not finished.")
    box.setInformativeText(
        "The worker can keep uploading in the background after the window closes; "
        "open upqueue again to see how they are doing."
    )
    keep = box.addButton("Keep Uploading", QMessageBox.ButtonRole.AcceptRole)
    stop = box.addButton("Stop Uploads and Quit", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    if clicked is keep:
        return "keep"
    if clicked is stop:
        return "stop"
    return "cancel"


# -- remembering the layout ----------------------------------------------------------------


def layout_state() -> QSettings:
    """The window's remembered layout, in the data directory (tests get their own)."""
    return QSettings(str(paths.data_dir() / "window.ini"), QSettings.Format.IniFormat)


def restore_layout(window: MainWindow) -> None:
    state = layout_state()
    geometry = state.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    header = state.value("header")
    if header is not None:
        window.view.horizontalHeader().restoreState(header)
    splitter = state.value("splitter")
    if splitter is not None:
        window.splitter.restoreState(splitter)
    else:
        window.splitter.setSizes([180, 1100])


def save_layout(window: MainWindow) -> None:
    state = layout_state()
    state.setValue("geometry", window.saveGeometry())
    state.setValue("header", window.view.horizontalHeader().saveState())
    state.setValue("splitter", window.splitter.saveState())
    target = window.current_target()
    if target is not None:
        state.setValue("target", target["id"])
    state.sync()
