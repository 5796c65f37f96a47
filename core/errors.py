"""Error classes that cross the core boundary, and the mapping of HTTP outcomes to them.

What a person sees (title + message) and how a transfer failed (``kind``) are decided here, in
one place, for answered requests (``error_for_status``/``error_for_response``) and for requests
that got no answer (``classify_exception``), so the retry policy can branch on ``kind`` alone
(PROTOCOLS.md §I).
"""

from __future__ import annotations

import base64
import binascii
import errno
import html
import logging
import re
import socket
import time
from collections.abc import Mapping
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    # Imported where used: the command line imports this module and must not pay ~60 ms for
    # requests before its first request (issue 12).
    import requests


class AskedRequest(Protocol):
    """The request an answer answers (requests' PreparedRequest, core.transports.wire.Sent)."""

    @property
    def method(self) -> str | None: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class HttpAnswer(Protocol):
    """An HTTP answer as classified here: requests.Response or core.transports.wire.Answer."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    @property
    def request(self) -> AskedRequest: ...


log = logging.getLogger(__name__)


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


# -- HTTP status -> TransferError ---------------------------------------------------------------

# @tus/server's texts for "your request lost the upload lock to a newer one": not the client's
# fault, so worth a retry although 400 is otherwise final (PROTOCOLS.md §I item 44).
_LOCK_TEXTS = ("request aborted due to lock acquired", "failed to acquire lock")
_EXTRA_REASONS = {460: "Checksum Mismatch"}
_MAX_SERVER_TEXT = 300


def human_size(n: int) -> str:
    """``100000000`` -> ``"100 MB"`` (decimal units, as the window shows sizes)."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "bytes":
                return f"{n:,} bytes"
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        import email.utils  # here: the command line imports this module, rarely this

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "-0000"
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def trim_server_text(text: str, content_type: str = "") -> str:
    """A server's error body as one short line: HTML reduced to its title, whitespace collapsed."""
    if "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        m = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = html.unescape(m.group(1)) if m else ""
    text = " ".join(text.split())
    if len(text) > _MAX_SERVER_TEXT:
        text = text[: _MAX_SERVER_TEXT - 1] + "\u2026"
    return text


def reason_phrase(status: int, fallback: str = "") -> str:
    """The standard reason phrase for ``status`` (servers may send none, or a custom one)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _EXTRA_REASONS.get(status, fallback or "Error")


def error_for_status(
    status: int,
    *,
    action: str,
    server_text: str = "",
    reason: str = "",
    retry_after: float | None = None,
    gone: bool = False,
    max_size: int | None = None,
    location: str | None = None,
) -> TransferError:
    """Classify a non-success answer (PROTOCOLS.md §I table) into a TransferError.

    Args:
        status: the HTTP status.
        action: what we were doing, for the message ("sending data").
        server_text: the response body, already trimmed.
        reason: the reason phrase the server sent (used for statuses Python does not know).
        retry_after: parsed Retry-After, passed through.
        gone: the request was HEAD/PATCH on an upload URL, so 404/410 (and 403 on HEAD, which
            the caller decides) mean the server no longer has the upload.
        max_size: the server's Tus-Max-Size if known, for the 413 message.
        location: the Location of a 3xx answer.
    """
    head = f"{status} {reason_phrase(status, reason)}"
    said = f"{head}: {server_text}" if server_text else head
    lowered = server_text.lower()

    def err(kind: ErrorKind, title: str, message: str) -> TransferError:
        return TransferError(
            title,
            message,
            kind=kind,
            status=status,
            retry_after=retry_after,
            server_text=server_text,
        )

    if gone:
        return err(
            ErrorKind.GONE,
            "Upload no longer on the server",
            f"{said} while {action}. The server no longer has this upload; it must start over.",
        )
    if status == 409:
        return err(ErrorKind.CONFLICT, "Upload out of step", f"{said} while {action}.")
    if status == 460:
        return err(
            ErrorKind.CHECKSUM,
            "Data damaged in transit",
            f"{said} while {action}: the server discarded the data; it will be sent again.",
        )
    if status in (400, 500) and any(t in lowered for t in _LOCK_TEXTS):
        return err(
            ErrorKind.TRANSIENT,
            "Upload interrupted by the server",
            f"{said} while {action}. Another request for the same upload took over; "
            "it will be resumed.",
        )
    if status == 429 or status == 423 or status == 408 or (500 <= status < 600 and status != 501):
        wait = f" The server asked to wait {retry_after:g} s." if retry_after is not None else ""
        title = "Server busy" if status in (423, 429, 503) else "Server error"
        return err(ErrorKind.TRANSIENT, title, f"{said} while {action}.{wait}")
    if status == 401:
        text = f" The server said: {server_text}" if server_text else ""
        return err(
            ErrorKind.PERMANENT,
            "Server rejected the credentials",
            "The server rejected the credentials (401). Check the target's username/password "
            f"or token.{text}",
        )
    if status == 403:
        return err(
            ErrorKind.PERMANENT,
            "Server refused access",
            f"{said} while {action}. Check the target's credentials and permissions.",
        )
    if status == 413:
        limit = f" \u2014 the server accepts at most {human_size(max_size)}" if max_size else ""
        return err(ErrorKind.PERMANENT, "Server refused the file", f"{said}{limit}")
    if status == 412 or (status == 400 and "tus-resumable" in lowered):
        return err(
            ErrorKind.PERMANENT,
            "Unsupported tus version",
            f"{said} while {action}. The server does not accept tus 1.0.0.",
        )
    if status == 404:
        return err(
            ErrorKind.PERMANENT,
            "Upload address not found",
            f"{said} while {action}. Check the target's URL.",
        )
    if 300 <= status < 400:
        to = f" to {location}" if location else ""
        return err(
            ErrorKind.PERMANENT,
            "Server redirected the upload",
            f"{said}: the server redirects{to}. Update the target's URL to the new address.",
        )
    return err(ErrorKind.PERMANENT, "Server refused the request", f"{said} while {action}.")


# -- requests outcomes -> TransferError ---------------------------------------------------------


# Request headers the protocol sets: their values are no secret (and are short words such as
# "1.0.0" that must not be blanked out of a server's text). Every other value is the target's:
# its credential, or a header a person configured, which may be one.
_PROTOCOL_HEADERS = frozenset({
    "tus-resumable", "upload-offset", "upload-length", "upload-metadata", "upload-checksum",
    "upload-defer-length", "upload-concat", "content-type", "content-length", "host",
    "user-agent", "accept", "accept-encoding", "connection", "cache-control",
})  # fmt: skip
REDACTED = "[redacted]"
_MIN_SECRET = 4  # shorter values would blank out ordinary words of the text


def request_secrets(headers: Mapping[str, str]) -> list[str]:
    """The secret strings a request carried: header values, a scheme's credential, and for
    Basic the base64 text, ``user:password`` and the password; longest first."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in _PROTOCOL_HEADERS or not value:
            continue
        found.add(value)
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if credential:
            found.add(credential)
        if scheme.lower() == "basic" and credential:
            try:
                pair = base64.b64decode(credential, validate=True).decode("utf-8", "replace")
            except (ValueError, binascii.Error):
                continue
            found.add(pair)
            found.add(pair.partition(":")[2])
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by [redacted]."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def error_for_response(
    resp: HttpAnswer, action: str, *, gone: bool = False, max_size: int | None = None
) -> TransferError:
    """Classify a non-success response (see core.errors.error_for_status).

    A server may quote the credential it refused ("invalid credential: Bearer <token>"): every
    secret the request carried is redacted from its text before anyone shows or stores it.
    """
    import requests

    try:
        text = resp.text
    except (requests.RequestException, UnicodeDecodeError):
        text = ""
    request = getattr(resp, "request", None)
    secrets = request_secrets(request.headers) if request is not None else []
    if secrets:
        text = redact(text, secrets)
    location = resp.headers.get("Location")
    if location and secrets:
        location = redact(location, secrets)
    return error_for_status(
        resp.status_code,
        action=action,
        server_text=trim_server_text(text, resp.headers.get("Content-Type", "")),
        reason=redact(resp.reason or "", secrets),
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        gone=gone,
        max_size=max_size,
        location=location,
    )


def classify_exception(
    e: requests.RequestException, url: str, action: str, *, stall_timeout: float
) -> TransferError:
    """Turn a requests exception (no answer from the server) into a TransferError."""
    import requests

    host = urlsplit(url).netloc or url
    if isinstance(
        e,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidHeader,
        ),
    ):
        return TransferError(
            "Invalid server address",
            f"{url} cannot be used ({e}). Check the target's URL and headers.",
            kind=ErrorKind.PERMANENT,
        )
    if isinstance(e, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(e):
        return untrusted_certificate(host)
    if isinstance(e, requests.exceptions.ConnectTimeout):
        message = f"{host} did not accept a connection in time while {action}."
    elif isinstance(e, requests.exceptions.ReadTimeout):
        message = f"{host} took too long to answer while {action}."
    elif _caused_by_timeout(e):
        # A send timeout: the connection stopped taking data for stall_timeout seconds.
        message = f"The connection to {host} stalled for {stall_timeout:g} s while {action}."
    else:
        message = connection_failure(e, host, action)
    # The raw text (urllib3's "HTTPConnectionPool(...): Max retries exceeded ...") is for the log.
    log.info("connection problem with %s while %s: %s", host, action, e)
    # Whether and when it is tried again is the caller's retry policy to say, not this text.
    return TransferError("Connection problem", message, kind=ErrorKind.TRANSIENT)


def untrusted_certificate(host: str) -> TransferError:
    """The error for a server certificate that could not be verified."""
    return TransferError(
        "Server certificate not trusted",
        f"The certificate of {host} could not be verified. If this server uses its own "
        "certificate authority, set REQUESTS_CA_BUNDLE to a file holding its certificate "
        "and restart upqueue.",
        kind=ErrorKind.PERMANENT,
    )


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused (is the server running, and is the port right?)",
    errno.ECONNRESET: "the server closed the connection",
    errno.ENETUNREACH: "the network is unreachable",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ETIMEDOUT: "the connection timed out",
    errno.EPIPE: "the server closed the connection",
}


def connection_failure(e: BaseException, host: str, action: str) -> str:
    """ "Cannot connect to 127.0.0.1:1: connection refused …" from requests' nested errors."""
    cause = _innermost_os_error(e)
    if isinstance(cause, socket.gaierror):
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return f"Cannot find the server {name}: its name does not resolve (check the URL and the network)."
    if cause is not None and cause.errno in _ERRNO_WORDS:
        words = _ERRNO_WORDS[cause.errno]
        if cause.errno in (errno.ECONNRESET, errno.EPIPE):
            return f"The connection to {host} broke while {action}: {words}."
        return f"Cannot connect to {host}: {words}."
    return f"The connection to {host} failed while {action}: {_short(e)}."


def _innermost_os_error(e: BaseException) -> OSError | None:
    """The OSError at the bottom of requests -> urllib3 -> socket (via reason, cause, context)."""
    seen: set[int] = set()
    stack: list[object] = [e]
    found: OSError | None = None
    while stack:
        cur = stack.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, OSError) and (cur.errno is not None or isinstance(cur, socket.gaierror)):
            found = cur
        stack.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args])
    return found


def _caused_by_timeout(e: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[object] = [e]
    while stack:
        cur = stack.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, TimeoutError):
            return True
        stack.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args])
    return False


def _short(e: BaseException) -> str:
    # requests nests urllib3 errors; the innermost OSError text is the useful part.
    inner: object = e
    while (
        isinstance(inner, BaseException)
        and inner.args
        and isinstance(inner.args[-1], BaseException)
    ):
        inner = inner.args[-1]
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    return str(inner) if isinstance(inner, BaseException) else str(e)
