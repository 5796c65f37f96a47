"""One bandwidth limit shared by every upload of the worker, changeable while they run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """A token bucket that lets a sender go into debt and then waits the debt off.

    Debt (rather than refusing a block larger than the bucket) keeps the long-run rate exact
    whatever the block size, and the wait is sliced so a pause is noticed within ``slice_s``.

    Args:
        rate: bytes per second; 0 means no limit.
        clock, sleep: injectable for tests.
    """

    def __init__(self, rate: float = 0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, slice_s: float = 0.1):
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._slice = slice_s
        self._rate = 0.0
        self._tokens = 0.0
        self._stamp = clock()
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self._refill()
            self._rate = max(0.0, float(rate))
            self._tokens = min(self._tokens, self._burst())

    def _burst(self) -> float:
        # A tenth of a second of credit at most: a start or a resume after idling may run
        # ahead by that little (5 % of a 2-second window), and a sender that lost the CPU for
        # a moment can still make it up. (A quarter second let a resume run 12-60 % over.)
        return self._rate / 10

    def block_hint(self) -> int | None:
        """The largest piece worth handing to the socket at once under the limit: 25 ms of it,
        so that the rate is even over any short window (a 1 MiB block at 3 MB/s is a third of a
        second in one lump). None without a limit."""
        rate = self._rate
        if rate <= 0:
            return None
        return int(min(1 << 20, max(16 << 10, rate / 40)))

    def _refill(self) -> None:
        now = self._clock()
        if self._rate > 0:
            self._tokens = min(self._burst(), self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def take(self, nbytes: int, check_stop: Callable[[], None] = lambda: None) -> None:
        """Account for ``nbytes`` about to be sent; wait while the bucket is in debt.

        ``check_stop`` is called between waits and may raise to abandon the send.
        """
        with self._lock:
            if self._rate <= 0:
                return
            self._refill()
            self._tokens -= nbytes
        while True:
            check_stop()
            with self._lock:
                if self._rate <= 0:
                    return
                self._refill()
                debt = -self._tokens
                rate = self._rate
            if debt <= 0:
                return
            self._sleep(min(self._slice, debt / rate))
