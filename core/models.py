"""The domain's states and names that cross the process boundary (API, CLI, window)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """An upload's state. The worker owns every transition."""

    QUEUED = "queued"
    UPLOADING = "uploading"
    RETRYING = "retrying"
    PAUSED = "paused"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Uploads in these states still need the worker; the rest are finished.
ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.UPLOADING, Status.RETRYING, Status.PROCESSING})
FINISHED_STATUSES = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})
# Which actions each state allows; the API answers 409 with a readable message otherwise.
PAUSABLE = frozenset({Status.QUEUED, Status.UPLOADING, Status.RETRYING})
RESUMABLE = frozenset({Status.PAUSED})
CANCELLABLE = frozenset({Status.QUEUED, Status.UPLOADING, Status.RETRYING, Status.PAUSED, Status.PROCESSING})
RETRYABLE = frozenset({Status.FAILED, Status.CANCELLED})


class AuthKind(StrEnum):
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"
    HEADER = "header"


class EventKind(StrEnum):
    """What an events row records. Free text goes in the event's message."""

    ADDED = "added"
    STARTED = "started"
    RESUMED_AT = "resumed_at"
    PROGRESS = "progress"
    PAUSED = "paused"
    RESUMED = "resumed"
    RETRYING = "retrying"
    RESTARTED = "restarted"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REMOVED = "removed"
    REQUEUED = "requeued"
    INFO = "info"
    WATCH = "watch"
    BATCH = "batch"
