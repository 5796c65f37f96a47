"""A request that got no answer (a requests exception) -> TransferError, in words a person can
act on: refused, unreachable, not resolving, timed out, stalled, untrusted certificate."""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from upqueue.core.errors import ErrorKind, TransferError

if TYPE_CHECKING:
    # Imported where used: this came out of core.errors, which the command line imports and
    # which must not pay ~60 ms for requests before its first request (issue 12); it stays cheap.
    import requests


log = logging.getLogger(__name__)


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
