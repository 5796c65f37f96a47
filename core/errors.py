"""Error classes that cross the core boundary.

What a person sees (title + message) and how a transfer failed (``kind``) are decided in one
place, so the retry policy can branch on ``kind`` alone (PROTOCOLS.md §I): answered requests
are classified in core.status_errors (``error_for_status``) and core.response_errors
(``error_for_response``), requests that got no answer in core.connection_errors
(``classify_exception``).
"""

from __future__ import annotations

from enum import StrEnum


class UpqueueError(Exception):
    """Every error a person may see: a short title and a message they can act on."""

    title: str
    message: str

    def __init__(self, title: str, message: str) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message


class ErrorKind(StrEnum):
    """How a failed transfer should be handled; the values are the strings stored in the db."""

    TRANSIENT = "transient"  # retry later with backoff (network, 5xx, 423, 429, lock aborts)
    PERMANENT = "permanent"  # a person must act (credentials, size limit, bad address)
    GONE = "gone"  # the server no longer has the upload: forget its URL, create anew
    CONFLICT = "conflict"  # offset mismatch (409): HEAD and continue from the server's offset
    FILE_CHANGED = "file_changed"  # the local file changed, vanished or shrank under us
    CHECKSUM = "checksum"  # 460: the server discarded the chunk, resend it


class TransferError(UpqueueError):
    """A failed tus request or file read, classified by ``kind`` (see :class:`ErrorKind`).

    Attributes:
        kind: one of the :class:`ErrorKind` values (a ``str``, so ``kind == "transient"`` works).
        status: the HTTP status when the server answered, else None.
        retry_after: seconds the server asked us to wait (429/503 ``Retry-After``), else None.
        server_text: the server's response body, trimmed, for logs and the message.
        busy: the server asked us to wait for our turn (a per-user limit, e.g. GeoNode's
            parallel imports): retried after ``retry_after`` without counting as an attempt.
    """

    kind: ErrorKind
    status: int | None
    retry_after: float | None
    server_text: str
    busy: bool

    def __init__(
        self,
        title: str,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after: float | None = None,
        server_text: str = "",
        busy: bool = False,
    ) -> None:
        super().__init__(title, message)
        # ErrorKind(...) rejects typos at the raise site instead of in the retry policy.
        self.kind = ErrorKind(kind)
        self.status = status
        self.retry_after = retry_after
        self.server_text = server_text
        self.busy = busy

    def __repr__(self) -> str:
        return (
            f"TransferError(kind={self.kind.value!r}, status={self.status!r}, "
            f"title={self.title!r}, message={self.message!r})"
        )


class TransferStopped(Exception):
    """Raised from inside the body reader when the upload must stop (pause/cancel/shutdown)."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
