"""The queue's columns and data roles, and what each cell of a row says.

Apart from the model (gui.models.queue_model), which keeps the rows in step with the worker:
the view, the filter proxy and the progress delegate need only the columns and roles, and the
texts a cell shows are plain functions of one row.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from upqueue.core import humanize
from upqueue.core.models import Status
from upqueue.gui.models.upload_row import STATUS_LABELS, UploadRow, short_time


class Col(IntEnum):
    """The queue's columns, in display order."""

    NAME = 0
    SIZE = 1
    PROGRESS = 2
    SPEED = 3
    ETA = 4
    STATUS = 5
    TARGET = 6
    ADDED = 7


HEADERS = {
    Col.NAME: "Name",
    Col.SIZE: "Size",
    Col.PROGRESS: "Progress",
    Col.SPEED: "Speed",
    Col.ETA: "Time left",
    Col.STATUS: "Status",
    Col.TARGET: "Target",
    Col.ADDED: "Added",
}


class Role(IntEnum):
    """Custom data roles; every one answers for any column of a row."""

    UPLOAD_ID = Qt.ItemDataRole.UserRole + 1
    STATUS = Qt.ItemDataRole.UserRole + 2
    PERCENT = Qt.ItemDataRole.UserRole + 3
    SIZE = Qt.ItemDataRole.UserRole + 4
    OFFSET = Qt.ItemDataRole.UserRole + 5
    FILTER_KEY = Qt.ItemDataRole.UserRole + 6
    SORT_KEY = Qt.ItemDataRole.UserRole + 7
    UPLOAD = Qt.ItemDataRole.UserRole + 8  # the row as a plain dict (for dialogs and actions)
    ERROR = Qt.ItemDataRole.UserRole + 9  # (title, message) or None


# The roles a change that keeps the filter key (status, batch, name) can touch.
SHOWN_ROLES = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.ForegroundRole,
    Role.PERCENT,
    Role.SIZE,
    Role.OFFSET,
    Role.SORT_KEY,
    Role.UPLOAD,
    Role.ERROR,
]
# Columns of numbers, right-aligned (their titles too).
RIGHT_ALIGNED = frozenset({Col.SIZE, Col.SPEED, Col.ETA})


def cell_text(row: UploadRow, column: int, clock: Callable[[], float]) -> str:
    """What ``column`` shows for ``row``; ``clock`` returns epoch seconds (see status_text)."""
    if column == Col.NAME:
        return row.name or ""
    if column == Col.SIZE:
        return humanize.size(row.size)
    if column == Col.PROGRESS:
        return f"{row.percent:.0f}%"
    if column == Col.SPEED:
        return humanize.speed(row.speed) if row.status == Status.UPLOADING else ""
    if column == Col.ETA:
        return humanize.eta(row.eta) if row.status == Status.UPLOADING else ""
    if column == Col.STATUS:
        return status_text(row, clock)
    if column == Col.TARGET:
        return row.target_name or ""
    if column == Col.ADDED:
        return short_time(row.added)
    return ""


def status_text(row: UploadRow, clock: Callable[[], float]) -> str:
    """What the Status column says: the state, and the reason when it failed or waits
    (``clock`` gives the now of the "retrying in N s" countdown)."""
    label = STATUS_LABELS.get(row.status, str(row.status).title())
    if row.status == Status.FAILED and row.error_title:
        return f"{label}: {row.error_title}"
    if row.status == Status.PROCESSING:
        return humanize.processing(row.processing_progress, row.processing_message)
    if row.status == Status.RETRYING and row.next_attempt_at:
        wait = row.next_attempt_at - clock()
        if wait > 0:
            return f"Retrying in {humanize.duration(wait)}"
    return label


def cell_tooltip(row: UploadRow, column: int) -> str | None:
    """The tooltip of ``column`` for ``row`` (None: no tooltip)."""
    if column == Col.NAME:
        return row.path
    if column == Col.PROGRESS:
        return f"{humanize.size(row.offset or 0)} of {humanize.size(row.size)} sent"
    if column == Col.STATUS:
        if not row.error_title:
            return STATUS_LABELS.get(row.status, row.status)
        title = row.error_title if row.status == Status.FAILED else f"Last error: {row.error_title}"
        return f"{title}\n{row.error_message or ''}".strip()
    if column == Col.TARGET:
        return row.result_url or None
    if column == Col.ADDED:
        return humanize.local_time(row.created_at)
    return None


def error_colour() -> QColor:
    """The colour of a failed upload's status, readable on a light or a dark palette."""
    palette = QGuiApplication.palette()
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    return QColor("#ff6b6b") if dark else QColor("#c62828")
