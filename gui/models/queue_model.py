"""The upload queue as a Qt table model: one row per upload, kept in step with the worker.

Rows are keyed by upload id. :meth:`QueueModel.apply_changes` takes what the API returned for
``GET /api/uploads?since=N`` and turns it into the fewest model signals: one ``dataChanged``
per contiguous range of changed rows, proper row inserts and removes, and never a reset for a
progress update. Sorting happens here too (Python's sort on a key is fast for 100,000 rows;
a proxy calling back into Python for every comparison is not), the filter proxy only filters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from upqueue.core.models import FINISHED_STATUSES, Status
from upqueue.gui.icons import status_icon
from upqueue.gui.models.queue_columns import (
    HEADERS,
    RIGHT_ALIGNED,
    SHOWN_ROLES,
    Col,
    Role,
    cell_text,
    cell_tooltip,
    error_colour,
    status_text,
)
from upqueue.gui.models.upload_row import SORT_KEYS, UploadRow

_ROOT = QModelIndex()  # the invisible root: a table's rows hang from it
# After a change to the sorted-by column, re-sort this long after (and no more often).
RESORT_MS = 1500
RESORT_LARGE_MS = 10_000
LARGE_QUEUE = 20_000


def _ranges(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted row numbers grouped into inclusive contiguous ranges: [1,2,3,7] -> [(1,3),(7,7)]."""
    result: list[tuple[int, int]] = []
    for row in sorted(set(rows)):
        if result and row == result[-1][1] + 1:
            result[-1] = (result[-1][0], row)
        else:
            result.append((row, row))
    return result


class QueueModel(QAbstractTableModel):
    """The upload queue, one row per upload id.

    Args:
        parent: the owning QObject.
        clock: returns epoch seconds; used for the "retrying in N s" countdown (tests pass one).
    """

    def __init__(self, parent: Any = None, clock: Callable[[], float] | None = None) -> None:
        super().__init__(parent)
        self._clock = clock or time.time
        self._rows: list[UploadRow] = []
        self._index: dict[int, int] = {}  # upload id -> row number
        # Bytes sent and to send over the unfinished uploads, kept up to date row by row so
        # that the overall progress costs nothing per tick, however long the queue.
        self._sent_bytes = 0
        self._total_bytes = 0
        self._sort_column: int = -1
        self._sort_order = Qt.SortOrder.AscendingOrder
        # A change to the sorted-by column re-sorts after a short pause, so that rows do not
        # jump under the pointer on every progress tick.
        self._resort_timer = QTimer(self)
        self._resort_timer.setSingleShot(True)
        self._resort_timer.timeout.connect(self._resort)

    # -- Qt's model interface -------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else _COLUMNS

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Col):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            # Right-aligned titles keep a gap to the left-aligned title next to them.
            return HEADERS[Col(section)] + ("  " if section in RIGHT_ALIGNED else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and section in RIGHT_ALIGNED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        # Called for every visible cell on every paint and for every row the filter checks:
        # plain int comparisons, the filter key first.
        if not index.isValid():
            return None
        row_number, column = index.row(), index.column()
        if not 0 <= row_number < len(self._rows) or not 0 <= column < _COLUMNS:
            return None
        row = self._rows[row_number]
        role = int(role)
        if role == _FILTER_KEY:
            return row.filter_key
        if role == _DISPLAY:
            return cell_text(row, column, self._clock)
        if role == _DECORATION:
            return status_icon(row.status) if column == Col.STATUS else None
        if role == _TOOLTIP:
            return cell_tooltip(row, column)
        if role == _ALIGNMENT:
            return _ALIGN_RIGHT if column in RIGHT_ALIGNED else None
        if role == _FOREGROUND:
            if column == Col.STATUS and row.status == Status.FAILED:
                return error_colour()
            return None
        if role == _UPLOAD_ID:
            return row.id
        if role == _STATUS:
            return row.status
        if role == _PERCENT:
            return row.percent
        if role == _SIZE:
            return row.size
        if role == _OFFSET:
            return row.offset
        if role == _SORT_KEY:
            return SORT_KEYS[column](row)
        if role == _UPLOAD:
            return row.as_dict()
        if role == _ERROR:
            return (row.error_title, row.error_message) if row.error_title else None
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows by ``column`` (-1: the order they were added in)."""
        self._sort_column, self._sort_order = column, order
        self._resort_timer.stop()
        self._resort()

    # -- keeping in step with the worker --------------------------------------------------

    @staticmethod
    def prepare(uploads: Sequence[Mapping[str, Any]]) -> list[UploadRow]:
        """Rows for :meth:`reset_rows`, built from API dicts; pure Python, so any thread may."""
        return [UploadRow(upload) for upload in uploads]

    def reset_uploads(self, uploads: Sequence[Mapping[str, Any]]) -> None:
        """Replace every row (first load, or after the worker's counter went backwards)."""
        self.reset_rows(self.prepare(uploads))

    def reset_rows(self, rows: list[UploadRow]) -> None:
        """Replace every row with rows made by :meth:`prepare` (a full load: a reset is right)."""
        self.beginResetModel()
        self._rows = rows
        self._sent_bytes = self._total_bytes = 0
        for row in self._rows:
            self._track(row, +1)
        self._sort_rows()
        self._reindex(0)
        self.endResetModel()

    def append_rows(self, rows: list[UploadRow]) -> None:
        """Add the rest of a queue after its first page (rows made by :meth:`prepare`).

        One insert at the end (in queue order the rest comes after the first page), then a
        re-sort when the view is sorted; rows already here are left alone.
        """
        rows = [row for row in rows if row.id not in self._index]
        if not rows:
            return
        start = len(self._rows)
        self.beginInsertRows(_ROOT, start, start + len(rows) - 1)
        self._rows.extend(rows)
        for offset, row in enumerate(rows):
            self._index[row.id] = start + offset
            self._track(row, +1)
        self.endInsertRows()
        if self._sort_column >= 0:
            self._resort_timer.stop()
            self._resort()

    def apply_changes(
        self, uploads: Sequence[Mapping[str, Any]], removed: Sequence[int] = ()
    ) -> list[tuple[int, str | None, str]]:
        """Merge one poll's worth of changes.

        Args:
            uploads: upload dicts (API shape) that are new or changed.
            removed: ids of uploads that were removed from the list.

        Returns:
            ``(upload_id, old_status, new_status)`` for every upload whose status changed
            (``old_status`` is None for a new upload), for notifications.
        """
        transitions: list[tuple[int, str | None, str]] = []
        changed_rows: list[int] = []
        keyed_rows: list[int] = []
        new_rows: list[UploadRow] = []
        removed_set = set(removed)
        sort_key = SORT_KEYS.get(self._sort_column) if self._sort_column >= 0 else None
        resort = False
        for upload in uploads:
            upload_id = upload.get("id")
            if upload_id is None or upload_id in removed_set:
                continue
            row_number = self._index.get(upload_id)
            if row_number is None:
                row = UploadRow(upload)
                new_rows.append(row)
                self._track(row, +1)
                self._index[upload_id] = -1  # placeholder: a duplicate in this batch updates it
                transitions.append((upload_id, None, row.status))
                continue
            if row_number < 0:
                for pending in new_rows:
                    if pending.id == upload_id:
                        self._track(pending, -1)
                        pending.update(upload)
                        self._track(pending, +1)
                continue
            row = self._rows[row_number]
            old_status, old_filter = row.status, row.filter_key
            old_key = sort_key(row) if sort_key else None
            self._track(row, -1)
            updated = row.update(upload)
            self._track(row, +1)
            if updated:
                # Rows whose filter key stayed put need no re-filtering by the proxy.
                (keyed_rows if row.filter_key != old_filter else changed_rows).append(row_number)
                if row.status != old_status:
                    transitions.append((upload_id, old_status, row.status))
                if sort_key and sort_key(row) != old_key:
                    resort = True
        # createIndex: index() would ask rowCount()/columnCount() in Python for each end.
        for first, last in _ranges(keyed_rows):
            self.dataChanged.emit(self.createIndex(first, 0), self.createIndex(last, _COLUMNS - 1))
        for first, last in _ranges(changed_rows):
            self.dataChanged.emit(
                self.createIndex(first, 0), self.createIndex(last, _COLUMNS - 1), SHOWN_ROLES
            )
        if new_rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(new_rows) - 1)
            self._rows.extend(new_rows)
            for offset, row in enumerate(new_rows):
                self._index[row.id] = start + offset
            self.endInsertRows()
            resort = resort or sort_key is not None
        if removed_set:
            self._remove_ids(removed_set)
        if resort and not self._resort_timer.isActive():
            # Re-sorting 100,000 rows stalls the window for ~0.1 s: rarely for a huge queue.
            self._resort_timer.start(
                RESORT_MS if len(self._rows) < LARGE_QUEUE else RESORT_LARGE_MS
            )
        return transitions

    def row_of(self, upload_id: int) -> int | None:
        """The row number of an upload, or None when it is not in the model."""
        return self._index.get(upload_id)

    def upload(self, upload_id: int) -> dict[str, Any] | None:
        """An upload's current values as a dict, or None."""
        row_number = self._index.get(upload_id)
        return None if row_number is None else self._rows[row_number].as_dict()

    def uploads(self) -> list[UploadRow]:
        """Every row (read-only use)."""
        return self._rows

    def unfinished_bytes(self) -> tuple[int, int]:
        """``(sent, total)`` bytes over the uploads not yet done, failed or cancelled."""
        return self._sent_bytes, self._total_bytes

    def _track(self, row: UploadRow, sign: int) -> None:
        # The rule of core.progress.overall for one unfinished row, without building a dict
        # for each of a thousand changes per tick.
        if row.status in FINISHED_STATUSES:
            return
        size = int(row.size or 0)
        self._sent_bytes += sign * min(size, int(row.offset or 0))
        self._total_bytes += sign * size

    # -- internals ------------------------------------------------------------------------

    def _remove_ids(self, ids: set[int]) -> None:
        rows = [self._index[i] for i in ids if self._index.get(i, -1) >= 0]
        if not rows:
            return
        # Back to front so earlier row numbers stay valid while we remove.
        for first, last in reversed(_ranges(rows)):
            self.beginRemoveRows(QModelIndex(), first, last)
            for row in self._rows[first : last + 1]:
                self._index.pop(row.id, None)
                self._track(row, -1)
            del self._rows[first : last + 1]
            self.endRemoveRows()
        self._reindex(min(rows))

    def _reindex(self, start: int) -> None:
        if start == 0:
            self._index = {row.id: number for number, row in enumerate(self._rows)}
            return
        for number in range(start, len(self._rows)):
            self._index[self._rows[number].id] = number

    def _sort_rows(self) -> None:
        self._rows.sort(key=_ID)
        if self._sort_column < 0:
            return
        # Stable in both directions (reverse=True keeps ties in order): ties stay by id.
        reverse = self._sort_order == Qt.SortOrder.DescendingOrder
        self._rows.sort(key=SORT_KEYS[self._sort_column], reverse=reverse)

    def _resort(self) -> None:
        if not self._rows:
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        ids = [self._rows[index.row()].id for index in persistent]
        self._sort_rows()
        self._reindex(0)
        moved = [
            self.index(self._index[upload_id], index.column())
            for upload_id, index in zip(ids, persistent)
        ]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def status_text(self, row: UploadRow) -> str:
        """What the Status column says: the state, and the reason when it failed or waits."""
        return status_text(row, self._clock)


_ID = attrgetter("id")
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_DECORATION = int(Qt.ItemDataRole.DecorationRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_ALIGN_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
_UPLOAD_ID, _STATUS, _PERCENT, _SIZE, _OFFSET = (
    int(Role.UPLOAD_ID),
    int(Role.STATUS),
    int(Role.PERCENT),
    int(Role.SIZE),
    int(Role.OFFSET),
)
_FILTER_KEY, _SORT_KEY, _UPLOAD, _ERROR = (
    int(Role.FILTER_KEY),
    int(Role.SORT_KEY),
    int(Role.UPLOAD),
    int(Role.ERROR),
)
_COLUMNS = len(Col)
