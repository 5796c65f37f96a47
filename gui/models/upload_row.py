"""One upload as the queue model keeps it: compact, with display strings and sort keys cached.

No Qt here: the rows are plain objects so that 100,000 of them stay small and quick to sort.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from core import humanize, progress
from core.models import Status

STATUS_LABELS = {
    Status.QUEUED: "Queued",
    Status.UPLOADING: "Uploading",
    Status.RETRYING: "Retrying",
    Status.PAUSED: "Paused",
    Status.PROCESSING: "Processing",
    Status.DONE: "Done",
    Status.FAILED: "Failed",
    Status.CANCELLED: "Cancelled",
}
# The order a person reads a queue in: what is moving first, what is finished last.
STATUS_ORDER = {
    Status.UPLOADING: 0,
    Status.PROCESSING: 1,
    Status.RETRYING: 2,
    Status.QUEUED: 3,
    Status.PAUSED: 4,
    Status.FAILED: 5,
    Status.CANCELLED: 6,
    Status.DONE: 7,
}
# Separates the parts of the filter key; cannot occur in a file name.
FILTER_SEP = "\x1f"

FIELDS = (
    "id",
    "name",
    "path",
    "size",
    "offset",
    "status",
    "speed",
    "target_id",
    "target_name",
    "remote_url",
    "error_title",
    "error_message",
    "attempts",
    "next_attempt_at",
    "created_at",
    "started_at",
    "finished_at",
    "batch_id",
    "watch_id",
    "change_seq",
)
# Fields whose change alters what a row shows; change_seq and updated_at alone do not.
VISIBLE = tuple(f for f in FIELDS if f not in ("id", "change_seq"))


class UploadRow:
    """One upload as the model keeps it: compact (slots), with its display strings cached."""

    __slots__ = FIELDS + ("added", "filter_key")

    def __init__(self, data: Mapping[str, Any]) -> None:
        for field in FIELDS:
            setattr(self, field, None)
        self.id = data["id"]
        self.filter_key = ""
        self.update(data)

    def update(self, data: Mapping[str, Any]) -> bool:
        """Take the new values in ``data``; return whether anything visible changed."""
        changed = False
        for field in VISIBLE:
            if field in data:
                value = data[field]
                if isinstance(value, str) and field in ("status", "target_name"):
                    # 100,000 rows share a handful of these strings; keep one copy of each.
                    value = sys.intern(value)
                if getattr(self, field) != value:
                    setattr(self, field, value)
                    changed = True
        self.change_seq = data.get("change_seq", self.change_seq)
        if changed:
            self.added = parse_local(self.created_at)
            self.filter_key = (
                f"{self.status}{FILTER_SEP}{self.batch_id or ''}{FILTER_SEP}{self.name}"
            )
        return changed

    def as_dict(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in FIELDS}

    @property
    def percent(self) -> float:
        if self.status == Status.DONE:
            return 100.0
        return progress.percent(self.size, self.offset)

    @property
    def eta(self) -> float | None:
        if self.status != Status.UPLOADING:
            return None
        return progress.eta_seconds(self.size, self.offset, self.speed)


def parse_local(iso: str | None) -> datetime | None:
    """An API time as a local datetime, parsed once per row (parsing on every paint adds up)."""
    if not iso:
        return None
    try:
        return humanize.parse_iso(iso).astimezone()
    except ValueError:
        return None


def short_time(moment: datetime | None, today: date | None = None) -> str:
    """Compact local time for a table: "19:04" today, "23 Nov 19:04" this year, else the date."""
    if moment is None:
        return ""
    today = today or date.today()
    if moment.date() == today:
        return moment.strftime("%H:%M")
    if moment.year == today.year:
        return f"{moment.day} {moment.strftime('%b %H:%M')}"
    return moment.strftime("%Y-%m-%d")


def _eta_key(row: UploadRow) -> float:
    value = row.eta
    return math.inf if value is None else value


# Sort keys by column number (the model's Col values); ties keep the queue order (by id).
SORT_KEYS: dict[int, Callable[[UploadRow], Any]] = {
    0: lambda row: (row.name or "").casefold(),
    1: lambda row: row.size or 0,
    2: lambda row: row.percent,
    3: lambda row: (row.speed or 0.0) if row.status == Status.UPLOADING else 0.0,
    4: _eta_key,
    5: lambda row: STATUS_ORDER.get(row.status, 99),
    6: lambda row: (row.target_name or "").casefold(),
    7: lambda row: (row.created_at or "", row.id),
}
