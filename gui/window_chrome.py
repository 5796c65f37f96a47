"""The main window's furniture: toolbar, menus, the batch bar, and opening its pages and dialogs.

Kept apart from :mod:`gui.main_window` so that the window's file holds its behaviour and this
one its layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMenuBar,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QToolButton,
    QWidget,
)
from upqueue.core import paths
from upqueue.core.humanize import plural
from upqueue.gui.icons import icon
from upqueue.gui.upload_actions import UploadActions


def build_toolbar(
    window: QMainWindow, acts: UploadActions
) -> tuple[QToolBar, QLineEdit, QComboBox]:
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
    search.setMinimumWidth(150)  # an 800 px window keeps every toolbar button (no "»")
    search.setMaximumWidth(320)
    bar.addWidget(search)
    bar.addSeparator()
    for key in ("targets", "settings"):
        bar.addAction(acts[key])
    return bar, search, combo


COMPACT_BELOW = 1000  # window width (px) under which "Add Files…" and "Add Folder…" lose their text


def fit_toolbar(bar: QToolBar, acts: UploadActions, width: int) -> None:
    """In a narrow window the add buttons show their icons only, so that nothing else of the
    toolbar is pushed behind its "»"."""
    style = (
        Qt.ToolButtonStyle.ToolButtonIconOnly
        if width < COMPACT_BELOW
        else Qt.ToolButtonStyle.ToolButtonTextBesideIcon
    )
    for key in ("add_files", "add_folder"):
        button = bar.widgetForAction(acts[key])
        if isinstance(button, QToolButton) and button.toolButtonStyle() != style:
            button.setToolButtonStyle(style)


def build_menus(
    window: QMainWindow,
    acts: UploadActions,
    go_to: Callable[[str], None],
    columns_menu: Callable[[QWidget], QMenu],
) -> QMenuBar:
    """The menu bar; ``go_to(key)`` shows the queue ("all"), "watches" or "history"."""
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
        "clear_finished",
        None,
        "open_folder",
        "open_link",
        "copy_url",
        "details",
    ):
        uploads.addSeparator() if key is None else uploads.addAction(acts[key])
    view = menus.addMenu("&View")
    view.addAction(icon("all"), "&Queue", lambda: go_to("all"))
    view.addAction(icon("watch"), "&Watched Folders", lambda: go_to("watches"))
    view.addAction(icon("history"), "&History", lambda: go_to("history"))
    view.addSeparator()
    columns = view.addMenu("&Columns")
    # Made when opened, so that the ticks show the columns as they are now.
    columns.aboutToShow.connect(lambda: _fill_columns(columns, columns_menu(window)))
    tools = menus.addMenu("&Tools")
    for key in ("targets", "settings"):
        tools.addAction(acts[key])
    help_menu = menus.addMenu("&Help")
    help_menu.addAction("&About upqueue", lambda: about(window))
    return menus


def _fill_columns(target: QMenu, source: QMenu) -> None:
    target.clear()
    for action in source.actions():
        target.addAction(action)


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


def ask_quit(window: QWidget, active: int) -> str:
    """Ask what happens to running uploads on quit: "keep", "stop" or "cancel"."""
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit upqueue")
    box.setText(f"{plural(active, 'upload')} {'is' if active == 1 else 'are'} not finished.")
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


def restore_layout(window: QWidget, header: QHeaderView, splitter: QSplitter) -> None:
    state = layout_state()
    geometry = state.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    header_state = state.value("header")
    if header_state is not None:
        header.restoreState(header_state)
    splitter_state = state.value("splitter")
    if splitter_state is not None:
        splitter.restoreState(splitter_state)
    else:
        splitter.setSizes([180, 1100])


def save_layout(window: QWidget, header: QHeaderView, splitter: QSplitter) -> None:
    state = layout_state()
    state.setValue("geometry", window.saveGeometry())
    state.setValue("header", header.saveState())
    state.setValue("splitter", splitter.saveState())
    state.sync()


def remember_target(target_id: Any) -> None:
    """The target chosen last: the default after a restart (a drop goes where it went before)."""
    state = layout_state()
    state.setValue("target", target_id)
    state.sync()
