"""Telling a watched folder's batch once it has ended, without weighing on a busy queue.

An upload of a batch ending is the moment to ask whether its batch ended too; a batch of 5,000
files has 5,000 such moments. So the asks are gathered: at most one light look at the batch
list a second (no uploads in it), and the batch's full answer (its uploads and events, which
the notification's words come from) is fetched once, for a batch that has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, QTimer
from upqueue.gui.tray import NotificationPolicy

# A batch's counts follow its last upload within a moment: look this many times after the last
# ending seen before giving up on it (a new ending starts the count again).
_LOOKS = 5
_LOOK_EVERY_MS = 1000
# How many of the newest batches one look lists (a batch being told is among the newest).
_LISTED = 200

Call = Callable[
    [Callable[[Any], Any], Callable[[Any], None], Callable[[BaseException], None]], None
]
Notify = Callable[[str, str, bool], None]


class BatchNotices(QObject):
    """Gathers "an upload of batch N ended" and tells each batch's end once."""

    def __init__(
        self, policy: NotificationPolicy, call: Call, notify: Notify, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._policy = policy
        self._call = call
        self._notify = notify
        self._looks_left: dict[int, int] = {}
        self._looking = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_LOOK_EVERY_MS)
        self._timer.timeout.connect(self._look)

    @property
    def pending(self) -> frozenset[int]:
        """The batches waiting to be looked at (for tests)."""
        return frozenset(self._looks_left)

    def uploads_ended(self, batch_ids: Iterable[int]) -> None:
        for batch_id in batch_ids:
            self._looks_left[batch_id] = _LOOKS
        if self._looks_left and not self._timer.isActive() and not self._looking:
            self._timer.start()

    def _look(self) -> None:
        if not self._looks_left:
            return
        self._looking = True
        self._call(lambda api: api.batches(limit=_LISTED), self._listed, self._failed)

    def _failed(self, _error: BaseException) -> None:
        self._looking = False
        self._again()

    def _listed(self, answer: dict[str, Any]) -> None:
        self._looking = False
        states = {int(b["id"]): b.get("state") for b in answer.get("batches") or []}
        for batch_id in list(self._looks_left):
            state = states.get(batch_id)
            if state is not None and state != "open":
                del self._looks_left[batch_id]
                self._call(_fetch_batch(batch_id), self._told, lambda _e: None)
            elif self._looks_left[batch_id] <= 1:
                del self._looks_left[batch_id]  # still open: more of it is on the way
            else:
                self._looks_left[batch_id] -= 1
        self._again()

    def _again(self) -> None:
        if self._looks_left and not self._timer.isActive():
            self._timer.start()

    def _told(self, answer: dict[str, Any]) -> None:
        for title, message, error in self._policy.on_batch(answer):
            self._notify(title, message, error)


def _fetch_batch(batch_id: int) -> Callable[[Any], Any]:
    """The call that fetches one batch's whole answer (bound now, not when it runs)."""
    return lambda api: api.batch(batch_id)
