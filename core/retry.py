"""The retry policy, in one place: which failures retry, and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass

from upqueue.core.errors import ErrorKind, TransferError

RETRYABLE_KINDS = frozenset({ErrorKind.TRANSIENT, ErrorKind.CONFLICT, ErrorKind.CHECKSUM, ErrorKind.GONE})


@dataclass(frozen=True)
class RetryDecision:
    """Whether to retry, after how many seconds, and the wait the server asked for (if any)."""

    retry: bool
    delay: float = 0.0
    server_asked: float | None = None


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so a crowd of
    clients that failed together does not come back together, yet no wait is near zero."""
    uniform = rng.uniform if rng is not None else random.uniform
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(ceiling / 2 + uniform(0, ceiling / 2))


def decide(error: TransferError, attempt: int, *, limit: int, base: float, cap: float,
           rng: random.Random | None = None) -> RetryDecision:
    """Whether to try again after ``error`` on the ``attempt``-th consecutive failure."""
    if error.kind not in RETRYABLE_KINDS or attempt > limit:
        return RetryDecision(False)
    delay = backoff(attempt, base, cap, rng)
    if error.retry_after is not None:
        # The server said when: that is the wait, whatever our own schedule would have been,
        # up to our own longest wait (a Retry-After of two hours would look like a hang).
        asked = max(0.0, float(error.retry_after))
        return RetryDecision(True, min(asked, cap), asked)
    return RetryDecision(True, delay)
