"""The settings a person can change, their defaults, and how a value is checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from upqueue.core.errors import UpqueueError
from upqueue.core.status_errors import human_size


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    kind: type
    help: str
    check: Callable[[Any], str | None] = lambda value: None


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda value: None if value >= low else f"must be at least {low:g}"


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    # NaN fails both comparisons, so it is refused too.
    return lambda value: None if low <= value <= high else f"must be between {low:g} and {high:g}"


def _off_or_bytes_between(low: int, high: int, unit: str = "") -> Callable[[Any], str | None]:
    """0 (the setting's "off") or a byte count in [low, high]: 1-byte chunks or a 1 B/s limit
    are what no transfer tool people trust accepts; they only make uploads crawl."""

    def check(value: Any) -> str | None:
        if value == 0 or low <= value <= high:
            return None
        return (
            f"must be 0 or between {human_size(low)}{unit} and {human_size(high)}{unit}"
            f" ({low:,} to {high:,})"
        )

    return check


KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
# Sizes are read and shown in decimal units (as the window shows them): bounds are round there.
KB, GB = 1000, 1000**3
DAY = 86400.0


MAX_CONCURRENCY = 16

SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting("concurrency", 3, int, "uploads running at once", _between(1, MAX_CONCURRENCY)),
        Setting(
            "bandwidth_limit",
            0,
            int,
            "bytes per second for all uploads together, 0 = no limit",
            _off_or_bytes_between(KB, 100 * GB, "/s"),
        ),
        Setting(
            "chunk_size",
            0,
            int,
            "bytes per PATCH, 0 = the whole remainder in one request",
            _off_or_bytes_between(64 * KB, 64 * GB),
        ),
        Setting(
            "retry_limit",
            10,
            int,
            "attempts without progress before an upload fails",
            _between(0, 1000),
        ),
        Setting(
            "retry_base_delay",
            1.0,
            float,
            "seconds before the first retry (doubles each time)",
            _between(0, 3600),
        ),
        Setting(
            "retry_max_delay",
            300.0,
            float,
            "longest wait between retries, seconds",
            _between(0, DAY),
        ),
        Setting(
            "connect_timeout", 10.0, float, "seconds to wait for a connection", _between(0.1, 600)
        ),
        Setting(
            "stall_timeout",
            30.0,
            float,
            "seconds a send may make no progress before it is aborted",
            _between(0.1, 3600),
        ),
        Setting(
            "read_timeout",
            60.0,
            float,
            "seconds to wait for the server's answer",
            _between(0.1, 3600),
        ),
        Setting(
            "auto_cancel_paused_after",
            0.0,
            float,
            "cancel uploads paused longer than this many seconds, 0 = never",
            _between(0, 365 * DAY),
        ),
        Setting(
            "keep_uploading_on_close",
            True,
            bool,
            "the worker keeps uploading when the window closes",
        ),
        Setting(
            "reupload_changed_files",
            True,
            bool,
            "a watched file changed after its upload is sent again",
        ),
        Setting(
            "rescan_interval",
            300.0,
            float,
            "seconds between rescans of watched folders",
            _between(5, DAY),
        ),
        Setting("notifications", True, bool, "desktop notifications when uploads finish or fail"),
    ]
}


def coerce(key: str, value: Any) -> Any:
    """Check and convert a value for ``key``; raise UpqueueError with a readable message.

    Accepts strings from the command line ("10", "true", "off").
    """
    setting = SETTINGS.get(key)
    if setting is None:
        known = ", ".join(sorted(SETTINGS))
        raise UpqueueError(
            "Unknown setting", f"There is no setting called {key!r}. Known settings: {known}."
        )
    try:
        if setting.kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                value = lowered in {"1", "true", "yes", "on"}
            else:
                value = bool(value)
        elif setting.kind is int:
            if isinstance(value, bool):
                raise ValueError(value)
            value = int(parse_size(value) if isinstance(value, str) else value)
        else:
            value = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int("1e309") is int(inf)
        raise UpqueueError(
            "Invalid setting value",
            f"{key} takes {setting.kind.__name__} values ({setting.help}); {value!r} is not one.",
        ) from None
    problem = setting.check(value)
    if problem:
        raise UpqueueError(
            "Invalid setting value", f"{key} {problem} ({setting.help}); got {value!r}."
        )
    return value


# One unit system, the one the window shows: kB, MB, GB are decimal (10 MB/s = 10,000,000 bytes a
# second); KiB, MiB, GiB say binary on purpose.
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "kib": 1 << 10,
    "m": 10**6,
    "mb": 10**6,
    "mib": 1 << 20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 1 << 30,
}


def parse_size(text: str) -> int:
    """'8MB', '512 KiB', '1.5GB', '1000' -> bytes (kB/MB/GB decimal, KiB/MiB/GiB binary)."""
    cleaned = text.strip().lower().replace(" ", "").removesuffix("/s")
    number = cleaned.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = cleaned[len(number) :]
    if unit not in _UNITS or not number:
        raise ValueError(text)
    return int(float(number) * _UNITS[unit])
