"""One upload as the queue model keeps it: compact, with display strings and sort keys cached.

No Qt here: the rows are plain objects so that 100,000 of them stay small and quick to sort.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from upqueue.core import humanize, progress
from upqueue.core.models import Status
from upqueue.core.records import UPLOAD_FIELDS

STATUS_LABELS: dict[str, str] = {
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
STATUS_ORDER: dict[str, int] = {
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

# The fields of an upload as the API sends them (core.records.UploadRecord), all kept.
FIELDS = UPLOAD_FIELDS
# Fields whose change alters what a row shows; change_seq and updated_at alone do not.
VISIBLE = tuple(f for f in FIELDS if f not in ("id", "change_seq", "updated_at"))
# Fields the filter key is made of.
_KEY_FIELDS = frozenset({"status", "batch_id", "name"})
_UNSET = object()


class UploadRow:
    """One upload as the model keeps it: compact (slots), with its filter key cached.

    Plain Python, no Qt: rows for a full load are built on a pool thread.
    """

    __slots__ = (*FIELDS, "_added", "filter_key")

    def __init__(self, data: Mapping[str, Any]) -> None:
        # Spelled out: 100,000 rows are built at start, and a loop of setattr is slower.
        get = data.get
        self.id = data["id"]
        self.name = get("name")
        self.path = get("path")
        self.size = get("size")
        self.offset = get("offset")
        status: Any = get("status")
        # 100,000 rows share a handful of these strings; keep one copy of each.
        self.status: str = sys.intern(status) if isinstance(status, str) else status
        self.speed = get("speed")
        self.target_id = get("target_id")
        target_name = get("target_name")
        self.target_name = sys.intern(target_name) if isinstance(target_name, str) else target_name
        self.result_url = get("result_url")
        self.processing_progress = get("processing_progress")
        self.processing_message = get("processing_message")
        self.error_title = get("error_title")
        self.error_message = get("error_message")
        self.attempts = get("attempts")
        self.next_attempt_at = get("next_attempt_at")
        self.created_at = get("created_at")
        self.started_at = get("started_at")
        self.finished_at = get("finished_at")
        self.updated_at = get("updated_at")
        self.batch_id = get("batch_id")
        self.watch_id = get("watch_id")
        self.change_seq = get("change_seq")
        self.sha256 = get("sha256")
        self._added: Any = _UNSET
        self.filter_key = self._filter_key()

    def _filter_key(self) -> str:
        return f"{self.status}{FILTER_SEP}{self.batch_id or ''}{FILTER_SEP}{self.name}"

    def update(self, data: Mapping[str, Any]) -> bool:
        """Take the new values in ``data``; return whether anything visible changed."""
        changed = key_changed = False
        for field in VISIBLE:
            value = data.get(field, _UNSET)
            if value is _UNSET or value == getattr(self, field):
                continue
            if field in _KEY_FIELDS:
                key_changed = True
                if field == "status" and isinstance(value, str):
                    value = sys.intern(value)
            elif field == "created_at":
                self._added = _UNSET
            setattr(self, field, value)
            changed = True
        self.change_seq = data.get("change_seq", self.change_seq)
        self.updated_at = data.get("updated_at", self.updated_at)
        if key_changed:
            self.filter_key = self._filter_key()
        return changed

    @property
    def added(self) -> datetime | None:
        """When it was added, in local time; parsed on first use (only rows on screen need it)."""
        if self._added is _UNSET:
            self._added = parse_local(self.created_at)
        return self._added  # type: ignore[no-any-return]

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
