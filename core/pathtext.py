"""File names that are not UTF-8 (Linux allows any bytes): how they are kept, shown and accepted.

Python hands such a name over with each undecodable byte 0xXY as the lone surrogate U+DCXY
(``surrogateescape``), which SQLite, JSON encoders and terminals refuse. state.db keeps the
byte as the private-use character U+F7XY instead: valid text, and mapped back exactly
(:func:`from_stored`) before the file is opened. What people and servers see is
:func:`readable`: the bytes decoded as UTF-8 with U+FFFD for what is not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

_ESCAPE_LOW, _ESCAPE_HIGH = 0xDC80, 0xDCFF  # surrogateescape: bytes 0x80..0xFF
_STORED_SHIFT = 0xF780 - 0xDC80  # U+F780..U+F7FF, in the Private Use Area
_TO_STORED = {c: c + _STORED_SHIFT for c in range(_ESCAPE_LOW, _ESCAPE_HIGH + 1)}
_FROM_STORED = {c + _STORED_SHIFT: c for c in range(_ESCAPE_LOW, _ESCAPE_HIGH + 1)}


def is_valid_text(text: str) -> bool:
    """Can ``text`` be encoded as UTF-8 (no lone surrogates)?"""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_stored(text: str) -> str:
    """``text`` with surrogate-escaped bytes as U+F780..U+F7FF: what state.db keeps."""
    return text if is_valid_text(text) else text.translate(_TO_STORED)


def from_stored(text: str) -> str:
    """The inverse of :func:`to_stored`: the path the file system knows."""
    return text if text.isascii() else text.translate(_FROM_STORED)


def readable(text: str) -> str:
    """``text`` as a person or a server should see it: valid UTF-8, U+FFFD for bad bytes."""
    if is_valid_text(text):
        return text
    try:
        return os.fsencode(text).decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate no file system gave us (sent to the API)
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def path_problem(path: str) -> str | None:
    """Why ``path`` (as sent to the API, after :func:`from_stored`) cannot name a file, or None."""
    if "\x00" in path:
        return "contains a NUL byte, which no file name can hold"
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return "is not valid text (it holds a lone UTF-16 surrogate that stands for no byte)"
    if not os.path.isabs(path):
        return (
            "is a relative path; the worker cannot tell which folder it is relative to. "
            "Give the full path (the command line does this for you)"
        )
    return None


def _any_unstorable(values: Iterable[Any]) -> bool:
    # A plain loop with the ASCII test first: this runs for every SQL statement (a dozen per
    # small file), and nearly every value is a number or ASCII text.
    for value in values:
        if isinstance(value, str) and not value.isascii() and not is_valid_text(value):
            return True
    return False


def storable_params(params: Any) -> Any:
    """SQL parameters with every str made storable by :func:`to_stored`."""
    if isinstance(params, (tuple, list)):
        if _any_unstorable(params):
            return [to_stored(p) if isinstance(p, str) else p for p in params]
        return params
    if isinstance(params, dict) and _any_unstorable(params.values()):
        return {k: to_stored(v) if isinstance(v, str) else v for k, v in params.items()}
    return params
