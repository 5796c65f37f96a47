"""The control API client's errors (the worker's own answer, or nobody answering), and what
its mixins of calls may call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


class ApiCalls:
    """The base of the client's mixins of calls: ApiClient provides ``_request`` and
    ``_object``."""

    if TYPE_CHECKING:

        def _request(
            self,
            method: str,
            path: str,
            *,
            json: Any = None,
            params: dict[str, Any] | None = None,
            timeout: tuple[float, float] | None = None,
            raw: bool = False,
            interruptible: bool = False,
        ) -> Any: ...

        def _object(
            self,
            method: str,
            path: str,
            *,
            json: Any = None,
            params: dict[str, Any] | None = None,
            timeout: tuple[float, float] | None = None,
            interruptible: bool = False,
        ) -> dict[str, Any]: ...
