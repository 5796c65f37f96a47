"""A small read-only table model over a list of dicts, for the short lists (watches, batches).

Rows are keyed by their ``id``: :meth:`ListModel.set_rows` updates changed rows in place,
inserts new ones and removes gone ones, so a refresh keeps the selection and never resets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

_ROOT = QModelIndex()
ID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Column:
    """One column: its header, its text, and optionally a tooltip and an icon."""

    header: str
    text: Callable[[dict[str, Any]], str]
    tooltip: Callable[[dict[str, Any]], str | None] | None = None
    decoration: Callable[[dict[str, Any]], Any] | None = None


class ListModel(QAbstractTableModel):
    """Rows of dicts with an ``id``, shown through :class:`Column` specs."""

    def __init__(self, columns: Sequence[Column], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[dict[str, Any]] = []

    def set_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Show ``rows`` (in their order), with the fewest signals."""
        new_ids = [row["id"] for row in rows]
        wanted = set(new_ids)
        for number in range(len(self.rows) - 1, -1, -1):
            if self.rows[number]["id"] not in wanted:
                self.beginRemoveRows(_ROOT, number, number)
                del self.rows[number]
                self.endRemoveRows()
        by_id = {row["id"]: row for row in rows}
        for number, row in enumerate(self.rows):
            fresh = by_id[row["id"]]
            if fresh != row:
                self.rows[number] = fresh
                self.dataChanged.emit(
                    self.index(number, 0), self.index(number, len(self.columns) - 1)
                )
        known = {row["id"] for row in self.rows}
        added = [row for row in rows if row["id"] not in known]
        if added:
            start = len(self.rows)
            self.beginInsertRows(_ROOT, start, start + len(added) - 1)
            self.rows.extend(added)
            self.endInsertRows()
        order = {row_id: n for n, row_id in enumerate(new_ids)}
        if [row["id"] for row in self.rows] != new_ids:
            self.layoutAboutToBeChanged.emit()
            persistent = self.persistentIndexList()
            ids = [self.rows[p.row()]["id"] for p in persistent]
            self.rows.sort(key=lambda row: order[row["id"]])
            self.changePersistentIndexList(
                persistent, [self.index(order[i], p.column()) for i, p in zip(ids, persistent)]
            )
            self.layoutChanged.emit()

    def row_dict(self, number: int) -> dict[str, Any] | None:
        return self.rows[number] if 0 <= number < len(self.rows) else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].header if 0 <= section < len(self.columns) else None
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        if not 0 <= index.column() < len(self.columns):
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tooltip(row) if column.tooltip else column.text(row) or None
        if role == Qt.ItemDataRole.DecorationRole and column.decoration:
            return column.decoration(row)
        if role == ID_ROLE:
            return row["id"]
        if role == ROW_ROLE:
            return row
        return None
