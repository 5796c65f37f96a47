"""Speed and ETA from numbers: the one place that turns offsets and times into rates.

The worker measures speed with :class:`SpeedMeter` and stores bytes/s on the upload's row; the
window and the CLI compute ETA and totals from those numbers with :func:`eta_seconds` and
:func:`overall`. Formatting for people lives in :mod:`core.humanize`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from upqueue.core.models import Status

# Statuses whose speed counts towards the total: only an upload that is sending has a rate.
_SENDING = frozenset({Status.UPLOADING})
# Statuses whose bytes count towards "overall": cancelled uploads will never send theirs.
_COUNTED = frozenset(set(Status) - {Status.CANCELLED})


def eta_seconds(size: int | None, offset: int | None, speed: float | None) -> float | None:
    """Seconds until ``size`` bytes are sent at ``speed`` bytes/s, or None when unknowable.

    Args:
        size: total bytes of the upload.
        offset: bytes already sent.
        speed: current rate in bytes per second.

    Returns:
        0.0 when nothing is left; None when the size is unknown or the rate is not positive.
    """
    if size is None or offset is None:
        return None
    remaining = max(0, int(size) - int(offset))
    if remaining == 0:
        return 0.0
    if not speed or speed <= 0 or math.isnan(speed) or math.isinf(speed):
        return None
    return remaining / float(speed)


def percent(size: int | None, offset: int | None) -> float:
    """How much is sent, 0..100; an empty file counts as complete only once it is done."""
    if not size:
        return 0.0
    return max(0.0, min(100.0, 100.0 * float(offset or 0) / float(size)))


def overall(uploads: Iterable[Mapping[str, Any]]) -> tuple[int, int, float]:
    """Totals across uploads, for a status bar or a summary line.

    Args:
        uploads: upload dicts as the API returns them (``size``, ``offset``, ``status``, ``speed``).

    Returns:
        ``(done_bytes, total_bytes, speed)``: bytes sent and bytes to send over every upload
        that is not cancelled (a finished upload counts as fully sent), and the sum of the
        rates of the uploads that are sending now.
    """
    done = total = 0
    speed = 0.0
    for upload in uploads:
        status = upload.get("status")
        if status not in _COUNTED:
            continue
        size = int(upload.get("size") or 0)
        sent = size if status == Status.DONE else min(size, int(upload.get("offset") or 0))
        total += size
        done += sent
        if status in _SENDING:
            speed += float(upload.get("speed") or 0.0)
    return done, total, speed


class SpeedMeter:
    """Exponentially smoothed bytes per second from ``(time, offset)`` samples.

    A plain "bytes in the last interval" jumps about with every chunk; smoothing over a few
    seconds gives a rate a person can read and an ETA that does not flicker.

    Args:
        half_life: seconds after which an old rate weighs half as much as a new one.
        clock: returns monotonic seconds; tests pass a fake one.
        min_interval: samples closer together than this are merged, so a burst of tiny
            writes does not produce absurd instantaneous rates.
    """

    def __init__(
        self,
        half_life: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 0.2,
    ) -> None:
        self.half_life = half_life
        self.clock = clock
        self.min_interval = min_interval
        self._rate: float | None = None
        self._last_time: float | None = None
        self._last_offset: int | None = None

    def reset(self, offset: int | None = None) -> None:
        """Forget the history, e.g. after a pause or a reconnect; start again at ``offset``."""
        self._rate = None
        self._last_time = None if offset is None else self.clock()
        self._last_offset = offset

    def update(self, offset: int) -> float:
        """Record that ``offset`` bytes have been sent by now; return the smoothed rate."""
        now = self.clock()
        if self._last_time is None or self._last_offset is None or offset < self._last_offset:
            # First sample, or the offset went backwards (restart from zero): no rate yet.
            self._last_time, self._last_offset = now, offset
            return self.rate
        elapsed = now - self._last_time
        if elapsed < self.min_interval:
            return self.rate
        instant = (offset - self._last_offset) / elapsed
        if self._rate is None:
            self._rate = instant
        else:
            # Weight by elapsed time so irregular sampling still gives the same half-life.
            keep = 0.5 ** (elapsed / self.half_life) if self.half_life > 0 else 0.0
            self._rate = keep * self._rate + (1.0 - keep) * instant
        self._last_time, self._last_offset = now, offset
        return self.rate

    @property
    def rate(self) -> float:
        """The smoothed bytes per second, 0.0 before two samples."""
        return max(0.0, self._rate) if self._rate is not None else 0.0
