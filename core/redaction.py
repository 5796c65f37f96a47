"""The secrets a request carried, and a server's text with them blanked out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

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
