"""The queue's filter: a status group (All, Active, Queued, ...), a batch and a search text.

Filtering runs on a single key per row (status, batch, name) matched by one regular expression
in C++: with no filter set the proxy never calls back into Python, which keeps 100,000 rows
quick. Sorting is forwarded to the source model (see :mod:`gui.models.queue_model`).
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QRegularExpression, QSortFilterProxyModel, Qt
from upqueue.core.models import Status
from upqueue.gui.models.queue_columns import Role
from upqueue.gui.models.upload_row import FILTER_SEP

# The groups the window offers, in order: (key, label, statuses shown; None = all).
FILTER_GROUPS: list[tuple[str, str, frozenset[str] | None]] = [
    ("all", "All", None),
    ("active", "Active", frozenset({Status.UPLOADING, Status.RETRYING, Status.PROCESSING})),
    ("queued", "Queued", frozenset({Status.QUEUED})),
    ("paused", "Paused", frozenset({Status.PAUSED})),
    # Cancelled uploads sit with the failed ones: both stopped short and both can be retried.
    ("failed", "Failed", frozenset({Status.FAILED, Status.CANCELLED})),
    ("done", "Done", frozenset({Status.DONE})),
]
GROUP_STATUSES = {key: statuses for key, _label, statuses in FILTER_GROUPS}


class QueueFilter(QSortFilterProxyModel):
    """Shows the rows of a :class:`QueueModel` that match a status group, batch and search."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._group = "all"
        self._search = ""
        self._batch_id: int | None = None
        self.setFilterRole(Role.FILTER_KEY)
        # The proxy never sorts; a sort role that never changes lets it pass progress-only
        # dataChanged signals straight through instead of re-checking those rows.
        self.setSortRole(Role.UPLOAD_ID)
        # Sorting belongs to the source model; the proxy keeps the source's order.
        self.setDynamicSortFilter(True)

    @property
    def group(self) -> str:
        return self._group

    @property
    def search(self) -> str:
        return self._search

    @property
    def batch_id(self) -> int | None:
        return self._batch_id

    def set_group(self, group: str) -> None:
        """Show only one status group ("all", "active", "queued", "paused", "failed", "done")."""
        if group not in GROUP_STATUSES:
            raise ValueError(f"unknown filter group {group!r}")
        if group != self._group:
            self._group = group
            self._apply()

    def set_search(self, text: str) -> None:
        """Show only rows whose name contains ``text`` (case-insensitive)."""
        text = text.strip()
        if text != self._search:
            self._search = text
            self._apply()

    def set_batch(self, batch_id: int | None) -> None:
        """Show only the uploads of one batch (None: every upload)."""
        if batch_id != self._batch_id:
            self._batch_id = batch_id
            self._apply()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if source is not None:
            source.sort(column, order)

    def pattern(self) -> str:
        """The regular expression for the current filter, "" when everything shows."""
        statuses = GROUP_STATUSES[self._group]
        if statuses is None and not self._search and self._batch_id is None:
            return ""
        status_part = "|".join(sorted(statuses)) if statuses is not None else f"[^{FILTER_SEP}]*"
        batch_part = str(int(self._batch_id)) if self._batch_id is not None else f"[^{FILTER_SEP}]*"
        search_part = f".*{re.escape(self._search)}" if self._search else ""
        return f"^(?:{status_part}){FILTER_SEP}{batch_part}{FILTER_SEP}{search_part}"

    def _apply(self) -> None:
        expression = QRegularExpression(
            self.pattern(), QRegularExpression.PatternOption.CaseInsensitiveOption
        )
        # Qt 6 wants begin/endFilterChange around a filter change; setFilterRegularExpression
        # does both and re-filters once.
        self.setFilterRegularExpression(expression)
