"""The History page: finished uploads over a date range, and "Export CSV…" of the same range.

The range is by the day an upload was added (UTC), exactly as the API's CSV export counts it,
so what the table shows is what the file holds.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from upqueue.core.humanize import plural
from upqueue.core.models import FINISHED_STATUSES
from upqueue.gui.icons import icon
from upqueue.gui.models.history_model import HistoryModel

Call = Callable[..., None]
DEFAULT_DAYS = 30


def in_range(upload: dict[str, Any], first: str, last: str) -> bool:
    """Whether an upload was added between two ``YYYY-MM-DD`` days (UTC, inclusive)."""
    day = (upload.get("created_at") or "")[:10]
    return first <= day <= last


class HistoryView(QWidget):
    """Finished uploads between two dates, with export.

    Args:
        call: ``call(fn, on_done, on_error)`` runs ``fn(api)`` off the GUI thread.
    """

    def __init__(self, call: Call, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("history")
        self._call = call
        self.choose_save_path: Callable[[str], str] = self._choose_save_path
        today = QDate.currentDate()
        self.from_date = QDateEdit(today.addDays(-DEFAULT_DAYS))
        self.to_date = QDateEdit(today)
        for edit in (self.from_date, self.to_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(self.refresh)
        self.from_date.setObjectName("history-from")
        self.to_date.setObjectName("history-to")
        refresh = QPushButton(icon("restart"), "Refresh")
        refresh.clicked.connect(self.refresh)
        self.export_button = QPushButton(icon("export"), "Export CSV…")
        self.export_button.setObjectName("history-export")
        self.export_button.clicked.connect(self.export)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Added from"))
        controls.addWidget(self.from_date)
        controls.addWidget(QLabel("to"))
        controls.addWidget(self.to_date)
        controls.addWidget(refresh)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        self.model = HistoryModel(self)
        self.table = QTableView()
        self.table.setObjectName("history-table")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 14)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        for column, width in enumerate((240, 110, 80, 90, 130, 130, 70)):
            self.table.setColumnWidth(column, width)
        header.setStretchLastSection(True)  # the reason or the address takes the rest
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)  # newest first
        self.message = QLabel()
        self.message.setObjectName("history-message")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(controls)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)

    def range(self) -> tuple[str, str]:
        """The chosen days as ``YYYY-MM-DD`` (earliest first)."""
        first = self.from_date.date().toString("yyyy-MM-dd")
        last = self.to_date.date().toString("yyyy-MM-dd")
        return (first, last) if first <= last else (last, first)

    def refresh(self) -> None:
        """Fetch the finished uploads and show those in the range."""
        first, last = self.range()
        statuses = sorted(FINISHED_STATUSES)

        def fetch(api: Any) -> list[dict[str, Any]]:
            uploads = api.uploads(status=statuses)["uploads"]
            return [u for u in uploads if in_range(u, first, last)]

        self._call(fetch, self._loaded, self._failed)

    def _loaded(self, uploads: list[dict[str, Any]]) -> None:
        self.model.set_uploads(uploads)
        first, last = self.range()
        self.message.setText(
            f"{plural(len(uploads), 'finished upload')} added {first} … {last} (UTC days)."
        )

    def export(self) -> None:
        """Save the API's CSV export of the chosen range to a file the person picks."""
        first, last = self.range()
        path = self.choose_save_path(f"upqueue-{first}-to-{last}.csv")
        if not path:
            return

        def work(api: Any) -> tuple[str, int]:
            text = api.export_csv(first, last)
            # Written beside and renamed into place: the file is never seen half-written.
            partial = Path(f"{path}.partial")
            partial.write_text(text, encoding="utf-8", newline="")
            os.replace(partial, path)
            return path, max(0, len(text.splitlines()) - 1)

        self._call(work, self._exported, self._failed)

    def _exported(self, result: tuple[str, int]) -> None:
        path, rows = result
        self.message.setText(f"Exported {plural(rows, 'upload')} to {path}.")

    def _failed(self, error: BaseException) -> None:
        title = getattr(error, "title", "Something went wrong")
        message = getattr(error, "message", str(error))
        self.message.setText(f"<b>{html.escape(title)}</b>: {html.escape(message)}")

    def _choose_save_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export CSV", str(Path.home() / suggested), "CSV files (*.csv)"
        )
        return path
