"""Extra headers as people type them: ``Name: value``, in the window's box or after ``--header``."""

from __future__ import annotations

from collections.abc import Iterable


def split_header(text: str) -> tuple[str, str]:
    """``"X-Team: gis"`` -> ``("X-Team", "gis")``.

    Raises:
        ValueError: without a colon, or with an empty name.
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"{text.strip()!r} is not “Name: value”")
    return name.strip(), value.strip()


def parse_header_lines(lines: Iterable[str]) -> dict[str, str]:
    """Lines of ``Name: value`` -> a dict; blank lines are skipped.

    Raises:
        ValueError: naming the line (1-based) that is not ``Name: value``.
    """
    headers: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            name, value = split_header(line)
        except ValueError:
            raise ValueError(f"Line {number} is not “Name: value”: {line.strip()!r}") from None
        headers[name] = value
    return headers
