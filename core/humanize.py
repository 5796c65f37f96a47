"""Numbers made readable for people: sizes, speeds, durations, ETAs and "5 min ago".

Pure functions, no Qt: the window and the CLI both format through here so that they agree.
Sizes use decimal units as file managers do (1 kB = 1000 B).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def size(n: float | None) -> str:
    """Bytes as "512 B", "1.2 GB" (decimal units, one decimal above bytes)."""
    if n is None:
        return "—"
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1000:
        return f"{sign}{int(value)} B"
    for unit in _SIZE_UNITS[1:]:
        value /= 1000.0
        # Round first so 999.96 kB shows as "1.0 MB", not "1000.0 kB".
        if round(value, 1) < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{sign}{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def speed(bps: float | None) -> str:
    """Bytes per second as "3.4 MB/s"; "—" when there is no rate."""
    if bps is None or math.isnan(bps) or bps <= 0:
        return "—"
    return f"{size(bps)}/s"


def duration(seconds: float | None) -> str:
    """A span as "5 s", "3 min", "1 h 20 min", "2 d 3 h"; "—" when unknown."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "—"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        # Under ten minutes the seconds still matter to someone watching; round above.
        return f"{minutes} min {secs} s" if minutes < 10 and secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def eta(seconds: float | None) -> str:
    """Time left as "5 s left", "3 min left", "1 h 20 min left"; "" when unknown."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return ""
    total = max(0, math.ceil(seconds))
    if total < 60:
        return f"{total} s left"
    # An ETA is an estimate: whole minutes (rounded up) read better than seconds.
    minutes = math.ceil(total / 60)
    if minutes < 60:
        return f"{minutes} min left"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min left" if minutes else f"{hours} h left"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h left" if hours else f"{days} d left"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time (with "Z" or an offset; naive means UTC) as an aware datetime."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ago(iso: str | None, now: datetime | None = None) -> str:
    """How long ago an ISO time was: "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago".

    Args:
        iso: a UTC ISO-8601 string as the API returns them; None or "" gives "".
        now: the reference time (tests pass one); defaults to the current UTC time.
    """
    if not iso:
        return ""
    try:
        then = parse_iso(iso)
    except ValueError:
        return iso
    reference = now or datetime.now(UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    seconds = (reference - then).total_seconds()
    if seconds < 0:
        # Clocks of two processes differ a little; the future is "just now" to a person.
        return "just now"
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 86400 * 30:
        return f"{int(seconds // 86400)} d ago"
    return then.strftime("%Y-%m-%d")


def local_time(iso: str | None) -> str:
    """An ISO UTC time as local "YYYY-MM-DD HH:MM:SS" for tables and details; "" for None."""
    if not iso:
        return ""
    try:
        return parse_iso(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``plural(1, "upload")`` -> "1 upload", ``plural(3, "upload")`` -> "3 uploads"."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {plural_form or noun + 's'}"


def processing(progress: float | None, message: str | None) -> str:
    """What an upload the server is processing shows: "Processing 40 %: Importing roads"."""
    text = "Processing" if progress is None else f"Processing {progress:.0f} %"
    return f"{text}: {message}" if message else text
