"""The queue's table view: columns, the progress delegate, selection, drops and an empty-state hint."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)
from upqueue.gui.models.queue_columns import Col, Role
from upqueue.gui.models.queue_filter import QueueFilter
from upqueue.gui.widgets.progress_delegate import ProgressDelegate

# Starting widths; people resize them and the window remembers.
_WIDTHS = {
    Col.NAME: 260,
    Col.SIZE: 78,
    Col.PROGRESS: 150,
    Col.SPEED: 86,
    Col.ETA: 80,
    Col.STATUS: 170,
    Col.TARGET: 80,
    Col.ADDED: 100,
}
# Shown left to right: what a person looks for first comes first, so that in a narrow window
# (800 px) the status is on screen and speed, time left, target and date scroll or hide.
_MIN_NAME = 160
_ORDER = [Col.NAME, Col.SIZE, Col.PROGRESS, Col.STATUS, Col.SPEED, Col.ETA, Col.TARGET, Col.ADDED]


class _RowDelegate(QStyledItemDelegate):
    """Cells of a row-selecting table: no focus frame around the one current cell."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Any) -> None:
        super().initStyleOption(option, index)
        option.state &= ~QStyle.StateFlag.State_HasFocus


class _NameDelegate(_RowDelegate):
    """File names lose their middle, not their extension, when the column is narrow."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Any) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


def local_paths(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[str]:
    """The local files and folders a drag carries (remote URLs are ignored)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


class QueueView(QTableView):
    """The upload table.

    Signals:
        files_dropped(list): local paths dropped onto the table.
        activated_upload(int): an upload was double-clicked or Enter was pressed on it.
    """

    files_dropped = Signal(list)
    activated_upload = Signal(int)

    def __init__(self, proxy: QueueFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queue")
        self.setModel(proxy)
        self.setItemDelegate(_RowDelegate(self))
        self.setItemDelegateForColumn(Col.PROGRESS, ProgressDelegate(self))
        self.setItemDelegateForColumn(Col.NAME, _NameDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # Uniform, fixed row heights: the view never measures 100,000 rows.
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 16)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        for column, width in _WIDTHS.items():
            self.setColumnWidth(column, width)
        # Name takes what the other columns leave, but never less than _MIN_NAME (Qt's Stretch
        # would squeeze it to nothing, or keep it wide and push Status off a narrow window).
        header.sectionResized.connect(self._other_resized)
        for visual, column in enumerate(_ORDER):
            header.moveSection(header.visualIndex(column), visual)
        header.setMinimumSectionSize(48)
        # Right-click on the header: choose the columns (kept with the layout).
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(
            lambda position: self.columns_menu().popup(header.mapToGlobal(position))
        )
        self.setSortingEnabled(True)
        self.placeholder = "Drop files or folders here, or press Ctrl+O to add files."
        self.doubleClicked.connect(lambda index: self._activate(index.row()))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit_name()

    def _other_resized(self, section: int, _old: int, _new: int) -> None:
        if section != Col.NAME:
            self.fit_name()

    def fit_name(self) -> None:
        header = self.horizontalHeader()
        others = sum(
            header.sectionSize(c) for c in Col if c != Col.NAME and not header.isSectionHidden(c)
        )
        width = max(_MIN_NAME, self.viewport().width() - others)
        if header.sectionSize(Col.NAME) != width:
            header.blockSignals(True)
            header.resizeSection(Col.NAME, width)
            header.blockSignals(False)
            self.viewport().update()

    def setColumnHidden(self, column: int, hide: bool) -> None:
        super().setColumnHidden(column, hide)
        self.fit_name()

    def columns_menu(self, parent: QWidget | None = None) -> QMenu:
        """A menu of the columns, each checkable (Name always shows)."""
        menu = QMenu("&Columns", parent or self)
        menu.setObjectName("columns-menu")
        model = self.model()
        for column in _ORDER:
            if column == Col.NAME:
                continue
            title = str(model.headerData(column, Qt.Orientation.Horizontal)).strip()
            action = menu.addAction(title)
            action.setObjectName(f"column-{column.name.lower()}")
            action.setCheckable(True)
            action.setChecked(not self.isColumnHidden(column))
            action.toggled.connect(lambda shown, c=column: self.setColumnHidden(c, not shown))
        self.last_columns_menu = menu
        return menu

    # -- selection ------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        """Ids of the selected uploads, in the order they show."""
        rows = sorted(index.row() for index in self.selectionModel().selectedRows())
        proxy = self.model()
        return [proxy.index(row, 0).data(Role.UPLOAD_ID) for row in rows]

    def selected_uploads(self) -> list[dict[str, Any]]:
        """The selected uploads as dicts (API shape)."""
        rows = sorted(index.row() for index in self.selectionModel().selectedRows())
        proxy = self.model()
        return [proxy.index(row, 0).data(Role.UPLOAD) for row in rows]

    def select_ids(self, ids: list[int]) -> None:
        """Select the rows of these uploads (those that show under the current filter)."""
        wanted = set(ids)
        proxy = self.model()
        selection = self.selectionModel()
        selection.clearSelection()
        first = None
        for row in range(proxy.rowCount()):
            index = proxy.index(row, 0)
            if index.data(Role.UPLOAD_ID) in wanted:
                first = first or index
                selection.select(
                    index,
                    selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                )
        if first is not None:
            selection.setCurrentIndex(first, selection.SelectionFlag.NoUpdate)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._activate(self.currentIndex().row())
            return
        super().keyPressEvent(event)

    def _activate(self, row: int) -> None:
        upload_id = self.model().index(row, 0).data(Role.UPLOAD_ID)
        if upload_id is not None:
            self.activated_upload.emit(int(upload_id))

    # -- drops ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
        else:
            event.ignore()

    # -- empty state ----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0 and self.placeholder:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            area: QRect = self.viewport().rect().adjusted(24, 24, -24, -24)
            painter.drawText(
                area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder
            )
            painter.end()
