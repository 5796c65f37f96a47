"""What the engine does with a failed attempt: retry later with backoff, or fail for good.

The policy itself is core.retry's; this applies it to an upload's row, with the settings of the
moment, and says in the history what happens next ("retry 2 in 10 s", "gave up after 5").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.models import EventKind, Status
from upqueue.core.retry import decide
from upqueue.core.store import Store
from upqueue.worker.engine_hooks import UploadHooks
from upqueue.worker.repository import UploadRepository

Finish = Callable[..., None]


class FailedAttempts:
    """Args:
    store: the settings (retry_limit, retry_base_delay, retry_max_delay).
    repository: the upload's attempts and its retry.
    finish: the engine's ``outcomes.finish(upload, status, event, message, title=, extra=)``.
    poke: wakes the one timer, which starts the retry when it falls due.
    clock: wall-clock seconds.
    """

    def __init__(
        self,
        store: Store,
        repository: UploadRepository,
        finish: Finish,
        poke: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self._store, self._repository = store, repository
        self._finish, self._poke, self._clock = finish, poke, clock

    def record(self, upload: dict[str, Any], error: TransferError, hooks: UploadHooks) -> None:
        """Retry later, or fail for good, as the policy (core.retry) and the settings say."""
        settings = self._store.settings()
        # Progress resets the count: only failures in a row, without a byte moving, add up.
        attempts = 1 if hooks.progressed else self._repository.attempts(upload["id"]) + 1
        if error.busy:  # waiting for a turn the server gives is no failed attempt
            attempts = max(1, attempts - 1)
        decision = decide(
            error,
            attempts,
            limit=int(settings["retry_limit"]),
            base=float(settings["retry_base_delay"]),
            cap=float(settings["retry_max_delay"]),
        )
        if not decision.retry:
            message = error.message
            if error.kind in (
                ErrorKind.TRANSIENT,
                ErrorKind.CONFLICT,
                ErrorKind.CHECKSUM,
                ErrorKind.GONE,
            ):
                message = f"{error.message} (gave up after {attempts} attempts)"
            extra: dict[str, Any] = {
                "offset": hooks.offset,
                "attempts": attempts,
                "confirmed_offset": hooks.confirmed,
            }
            if hooks.processing:
                # The server's processing failed: a retry sends the upload again rather than
                # following the same failed job.
                extra["remote_state"] = None
            self._finish(
                upload, Status.FAILED, EventKind.FAILED, message, title=error.title, extra=extra
            )
            return
        when = self._clock() + decision.delay
        capped = ""
        if decision.server_asked is not None and decision.server_asked > decision.delay:
            capped = (
                f" (the server asked for {decision.server_asked:g} s; upqueue waits at most "
                f"retry_max_delay, {decision.delay:g} s)"
            )
        self._repository.retry_later(
            upload["id"],
            when,
            attempts,
            hooks.offset,
            hooks.confirmed,
            error.title,
            error.message,
            f"{error.message} — retry {attempts} in {decision.delay:.0f} s{capped}",
        )
        self._poke()  # the one timer wakes the retry when it falls due
