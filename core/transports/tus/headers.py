"""tus 1.0 on the wire: Upload-Metadata, header values, and the checks of a server's answers
that do not need a client (core.transports.tus.client uses them)."""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit, urlunsplit

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.response_errors import HttpAnswer

_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")


def file_metadata(name: str) -> dict[str, str]:
    """The Upload-Metadata upqueue sends for a file: its name and its guessed media type."""
    return {
        "filename": name,
        "filetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
    }


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """Upload-Metadata value: ``key base64(utf-8 value)`` pairs, standard padded alphabet."""
    pairs = []
    for key, value in metadata.items():
        if not key or not key.isascii() or " " in key or "," in key:
            raise ValueError(f"invalid tus metadata key: {key!r}")
        pairs.append(f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}")
    return ",".join(pairs)


def decode_metadata(header: str | None) -> dict[str, str | None]:
    """Parse an Upload-Metadata header; a bare key has the value None."""
    result: dict[str, str | None] = {}
    for pair in (header or "").split(","):
        parts = pair.strip().split(" ", 1)
        if not parts[0]:
            continue
        value = parts[1].strip() if len(parts) > 1 else ""
        result[parts[0]] = (
            base64.b64decode(value, validate=True).decode("utf-8", "replace") if value else None
        )
    return result


# Answers that say nothing about what the server is: credentials, load, and a proxy in front of
# a tus server may send them without tus headers.
_NOT_TELLING = frozenset({401, 403, 407, 408, 423, 429})


def require_tus_answer(resp: HttpAnswer, url: str) -> None:
    """Raise "Not a tus server" for an answer without Tus-Resumable that should have one."""
    if resp.headers.get("Tus-Resumable") or resp.status_code in _NOT_TELLING:
        return
    if resp.status_code >= 500 or 300 <= resp.status_code < 400:
        return  # a server error or a redirect is classified (and reported) as such
    raise TransferError(
        "Not a tus server",
        f"{url} answered {resp.request.method} with {resp.status_code} and no Tus-Resumable "
        "header, so it is not a tus upload address (it did not describe itself either). "
        "Check the target's URL.",
        kind=ErrorKind.PERMANENT,
        status=resp.status_code,
    )


def csv_values(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_int(resp: HttpAnswer, name: str) -> int:
    value = resp.headers.get(name)
    if value is None or not _DECIMAL.match(value.strip()):
        raise protocol_error(resp, f"{name} is {'missing' if value is None else repr(value)}")
    return int(value.strip())


def protocol_error(resp: HttpAnswer, detail: str) -> TransferError:
    return TransferError(
        "Unexpected server response",
        f"The server's answer to {resp.request.method} ({resp.status_code}) breaks the tus "
        f"protocol: {detail}. Check that the target URL points at a tus server.",
        kind=ErrorKind.PERMANENT,
        status=resp.status_code,
    )


def resolve_location(endpoint: str, location: str) -> str:
    location = location.strip()
    # An absolute Location (what @tus/server sends) needs no joining: urljoin was a few percent
    # of a small file's CPU.
    url = location if location.startswith(("http://", "https://")) else urljoin(endpoint, location)
    base, new = urlsplit(endpoint), urlsplit(url)
    # @tus/server behind a TLS proxy (without respectForwardedHeaders) answers http:// URLs for
    # its own https host (with the Host header's port, when it has one). Following them would
    # send credentials in clear; keep https instead.
    if (
        base.scheme == "https"
        and new.scheme == "http"
        and new.hostname == base.hostname
        and new.port in (None, 80, base.port)
    ):
        url = urlunsplit(("https", base.netloc, new.path, new.query, new.fragment))
    return url
