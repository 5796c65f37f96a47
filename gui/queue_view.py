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
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from gui.models.queue_filter import QueueFilter
from gui.models.queue_model import Col, Role
from gui.widgets.progress_delegate import ProgressDelegate

# Starting widths; people resize them and the window remembers.
_WIDTHS = {
    Col.NAME: 260,
    Col.SIZE: 78,
    Col.PROGRESS: 190,
    Col.SPEED: 86,
    Col.ETA: 92,
    Col.STATUS: 215,
    Col.TARGET: 80,
    Col.ADDED: 100,
}


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
        header.setSectionResizeMode(Col.NAME, QHeaderView.ResizeMode.Stretch)
        self.setSortingEnabled(True)
        self.placeholder = "Drop files or folders here, or press Ctrl+O to add files."
        self.doubleClicked.connect(lambda index: self._activate(index.row()))

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
