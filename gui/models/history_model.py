"""Finished uploads for the History page: a plain table model over a list, sortable by column."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from upqueue.core import humanize
from upqueue.gui.icons import status_icon
from upqueue.gui.models.upload_row import STATUS_LABELS

HEADERS = ("Name", "Status", "Size", "Target", "Added", "Finished", "Attempts", "Reason / address")
_ROOT = QModelIndex()


def _reason(upload: dict[str, Any]) -> str:
    if upload.get("error_title"):
        return f"{upload['error_title']}: {upload.get('error_message') or ''}".strip(": ")
    return upload.get("result_url") or ""


_COLUMNS: list[tuple[Any, Any]] = [
    # (display, sort key) per column
    (lambda u: u.get("name") or "", lambda u: (u.get("name") or "").casefold()),
    (
        lambda u: STATUS_LABELS.get(u.get("status"), u.get("status")),
        lambda u: u.get("status") or "",
    ),
    (lambda u: humanize.size(u.get("size")), lambda u: u.get("size") or 0),
    (lambda u: u.get("target_name") or "", lambda u: (u.get("target_name") or "").casefold()),
    (lambda u: humanize.local_time(u.get("created_at"))[:16], lambda u: u.get("created_at") or ""),
    (
        lambda u: humanize.local_time(u.get("finished_at"))[:16],
        lambda u: u.get("finished_at") or "",
    ),
    (lambda u: str(u.get("attempts") or 0), lambda u: u.get("attempts") or 0),
    (_reason, _reason),
]


class HistoryModel(QAbstractTableModel):
    """A read-only table of upload dicts."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.uploads: list[dict[str, Any]] = []

    def set_uploads(self, uploads: list[dict[str, Any]]) -> None:
        # A different date range is a different list: a reset is the honest signal here.
        self.beginResetModel()
        self.uploads = list(uploads)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.uploads)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.uploads):
            return None
        upload = self.uploads[index.row()]
        column = index.column()
        if not 0 <= column < len(_COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[column][0](upload)
        if role == Qt.ItemDataRole.ToolTipRole:
            return upload.get("path") if column == 0 else _COLUMNS[column][0](upload) or None
        if role == Qt.ItemDataRole.DecorationRole and column == 1:
            return status_icon(upload.get("status") or "")
        if role == Qt.ItemDataRole.UserRole:
            return upload.get("id")
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(_COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        ids = [self.uploads[i.row()].get("id") for i in persistent]
        self.uploads.sort(key=_COLUMNS[column][1], reverse=order == Qt.SortOrder.DescendingOrder)
        where = {u.get("id"): n for n, u in enumerate(self.uploads)}
        self.changePersistentIndexList(
            persistent, [self.index(where[i], p.column()) for i, p in zip(ids, persistent)]
        )
        self.layoutChanged.emit()
