"""The control API client's errors: the worker's own answer, or nobody answering."""

from __future__ import annotations

from typing import Any

from upqueue.core.errors import UpqueueError


class ApiError(UpqueueError):
    """The worker answered with an error.

    Attributes:
        status: the HTTP status (400, 404, 409, 500...).
        errors: per-item problems when the answer lists them (e.g. rejected paths), else [].
    """

    def __init__(
        self, title: str, message: str, status: int, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(title, message)
        self.status = status
        self.errors = errors or []


class WorkerUnavailable(UpqueueError):
    """The worker could not be reached, or did not start."""
