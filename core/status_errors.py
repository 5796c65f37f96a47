"""An answered request's HTTP status -> TransferError (PROTOCOLS.md §I table), with the helpers
its messages use: the server's text trimmed, the reason phrase, Retry-After, sizes in words."""

from __future__ import annotations

import html
import re
import time
from http import HTTPStatus

from upqueue.core import humanize
from upqueue.core.errors import ErrorKind, TransferError

# @tus/server's texts for "your request lost the upload lock to a newer one": not the client's
# fault, so worth a retry although 400 is otherwise final (PROTOCOLS.md §I item 44).
_LOCK_TEXTS = ("request aborted due to lock acquired", "failed to acquire lock")
_EXTRA_REASONS = {460: "Checksum Mismatch"}
_MAX_SERVER_TEXT = 300


def human_size(n: int) -> str:
    """``100000000`` -> ``"100 MB"``, ``999960`` -> ``"1 MB"``: a size in a sentence. The
    window's and the command line's formatter (core.humanize.size) with its rounding, so a
    message and the queue never disagree, and no ".0" (an exact byte count below 1 kB)."""
    if abs(n) < 1000:
        return f"{n:,} bytes"
    number, unit = humanize.size(n).split(" ")
    return f"{number.removesuffix('.0')} {unit}"


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
