"""Targets: checking what a person typed (the protocol's transport is made by
core.transports.registry)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from upqueue.core.errors import UpqueueError
from upqueue.core.models import AuthKind
from upqueue.core.settings import parse_size
from upqueue.core.transports import registry

DEFAULT_PROTOCOL = registry.DEFAULT_PROTOCOL
# RFC 9110 token characters: what a header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def secret_key(target_id: int) -> str:
    return f"target:{target_id}"


def validate_fields(fields: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Check target fields from the API; return the cleaned columns (no secret among them).

    Raises:
        UpqueueError: with a message naming the field and what to do.
    """
    clean: dict[str, Any] = {}
    if "name" in fields or not partial:
        name = str(fields.get("name") or "").strip()
        if not name:
            raise UpqueueError("Target needs a name", "Give the target a short name, e.g. 'geonode' or 'lab'.")
        if len(name) > 100:
            raise UpqueueError("Name too long", "Use a target name of at most 100 characters.")
        clean["name"] = name
    if "protocol" in fields or not partial:
        protocol = str(fields.get("protocol") or DEFAULT_PROTOCOL).lower()
        registry.transport_class(protocol)  # raises "Unknown protocol" with the known ones
        clean["protocol"] = protocol
    if "url" in fields or not partial:
        clean["url"] = check_url(str(fields.get("url") or ""))
    if "headers" in fields and fields["headers"] is not None:
        protocol = clean.get("protocol") or str(fields.get("protocol") or DEFAULT_PROTOCOL)
        clean["headers"] = check_headers(fields["headers"], registry.reserved_headers(protocol))
    elif not partial:
        clean["headers"] = {}
    if "options" in fields and fields["options"] is not None:
        clean["options"] = check_options(fields["options"])
    elif not partial:
        clean["options"] = {}
    if "auth_kind" in fields or not partial:
        kind = str(fields.get("auth_kind") or AuthKind.NONE.value).lower()
        if kind not in {k.value for k in AuthKind}:
            raise UpqueueError("Unknown authentication", f"{kind!r}: choose none, basic, bearer or header.")
        clean["auth_kind"] = kind
    if "username" in fields or not partial:
        clean["username"] = (fields.get("username") or None) and str(fields["username"])
    if "auth_header" in fields or not partial:
        header = fields.get("auth_header") or None
        if header is not None and not _HEADER_NAME.match(str(header)):
            raise UpqueueError("Invalid header name", f"{header!r} is not a valid HTTP header name.")
        clean["auth_header"] = header
    if clean.get("auth_kind") == AuthKind.BASIC and not clean.get("username") and not partial:
        raise UpqueueError("Username missing", "Basic authentication needs a username.")
    if clean.get("auth_kind") == AuthKind.HEADER and not clean.get("auth_header") and not partial:
        raise UpqueueError("Header name missing", "Custom-header authentication needs the header's name.")
    if "chunk_size" in fields or not partial:
        clean["chunk_size"] = check_chunk_size(fields.get("chunk_size"))
    return clean


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UpqueueError(
            "Invalid URL", f"{url or '(empty)'} is not an http(s) address. Use e.g. https://example.org/files/."
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise UpqueueError(
            "Invalid URL", f"{url} has no valid port: a port is a number from 1 to 65535."
        )
    if parts.username or parts.password:
        # Credentials in a URL end up in logs and exports; they belong in the keyring.
        raise UpqueueError(
            "Credentials in the URL",
            "Remove the user name and password from the URL and enter them as the target's authentication; "
            "they are kept in the system keyring.",
        )
    return url


def check_options(options: Any) -> dict[str, Any]:
    """A target's protocol options: a JSON object of names to plain values."""
    if not isinstance(options, dict):
        raise UpqueueError("Invalid options", "Target options must be name/value pairs.")
    clean: dict[str, Any] = {}
    for key, value in options.items():
        if not str(key).strip():
            raise UpqueueError("Invalid option", "An option needs a name.")
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise UpqueueError("Invalid option", f"{key}: give a text, a number or true/false.")
        clean[str(key).strip()] = value
    return clean


def check_headers(headers: Any, reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    if isinstance(headers, list):  # ["K: V", ...] from the command line
        pairs = {}
        for item in headers:
            if ":" not in str(item):
                raise UpqueueError("Invalid header", f"{item!r}: write headers as Name:Value.")
            key, value = str(item).split(":", 1)
            pairs[key.strip()] = value.strip()
        headers = pairs
    if not isinstance(headers, dict):
        raise UpqueueError("Invalid headers", "Headers must be name/value pairs.")
    clean = {}
    for key, value in headers.items():
        key = str(key).strip()
        if not _HEADER_NAME.match(key):
            raise UpqueueError("Invalid header name", f"{key!r} is not a valid HTTP header name.")
        if key.lower() in reserved:
            raise UpqueueError("Reserved header", f"{key} is set by the upload protocol and cannot be overridden.")
        if key.lower() == "authorization":
            raise UpqueueError(
                "Use the authentication fields",
                "Put credentials in the target's authentication (kept in the keyring), not in a plain header.",
            )
        value = str(value)
        if "\n" in value or "\r" in value:
            raise UpqueueError("Invalid header value", f"The value of {key} contains a line break.")
        clean[key] = value
    return clean


def check_chunk_size(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        size = parse_size(value) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise UpqueueError("Invalid chunk size", f"{value!r}: give bytes or a size like 8M.") from None
    if size < 64_000:  # 64 kB, in the decimal units sizes are read and shown in
        raise UpqueueError("Chunk size too small", "Use a chunk size of at least 64 kB (e.g. 8MB).")
    if size > 64 * 10**9:
        raise UpqueueError("Chunk size too large", "Use a chunk size between 64 kB and 64 GB (e.g. 8MB).")
    return size
