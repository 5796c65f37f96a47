"""The window asks about a watched folder's batch lightly, however many of its uploads end."""

from __future__ import annotations

from typing import Any

from upqueue.gui.batch_notices import BatchNotices
from upqueue.gui.tray import NotificationPolicy


class RecordingApi:
    """Answers as the worker does; remembers what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int | None]] = []
        self.state = "open"

    def batches(self, limit: int | None = None) -> dict[str, Any]:
        self.asked.append(("batches", limit))
        return {"batches": [{"id": 7, "state": self.state}, {"id": 3, "state": "finished"}]}

    def batch(self, batch_id: int) -> dict[str, Any]:
        self.asked.append(("batch", batch_id))
        return {
            "batch": {"id": batch_id, "state": self.state, "total": 2, "done": 2, "failed": 0},
            "events": [
                {
                    "kind": "batch",
                    "status": self.state,
                    "title": "Batch finished",
                    "message": "Batch 7 from /in: 2 files uploaded. Manifest: m",
                }
            ],
        }


def test_thousands_of_endings_are_one_light_look_and_the_end_is_told_once(qtbot: Any) -> None:
    api = RecordingApi()
    told: list[tuple[str, str, bool]] = []
    notices = BatchNotices(
        NotificationPolicy(),
        lambda fn, done, _error: done(fn(api)),
        lambda title, message, error: told.append((title, message, error)),
    )
    for _poll in range(50):  # fifty polls, each with uploads of batch 7 ending
        notices.uploads_ended({7})
    qtbot.waitUntil(lambda: bool(api.asked), timeout=5_000)
    assert api.asked == [("batches", 200)], "one look at the list, not one per ending"
    assert told == [] and notices.pending == {7}  # still open: looked at again later
    api.state = "finished"
    qtbot.waitUntil(lambda: bool(told), timeout=5_000)
    assert api.asked[-1] == ("batch", 7) and [a for a in api.asked if a[0] == "batch"] == [
        ("batch", 7)
    ], "the full answer (uploads, events) fetched once, for the ended batch only"
    assert told == [("Batch finished", "Batch 7 from /in: 2 files uploaded.", False)]
    assert notices.pending == frozenset()
    notices.uploads_ended({7})  # a late ending of a told batch is not told again
    qtbot.waitUntil(lambda: not notices.pending, timeout=5_000)
    assert len(told) == 1


def test_a_batch_that_stays_open_is_given_up_after_a_few_looks(qtbot: Any) -> None:
    api = RecordingApi()
    notices = BatchNotices(NotificationPolicy(), lambda fn, done, _e: done(fn(api)), print)
    notices.uploads_ended({7})
    qtbot.waitUntil(lambda: not notices.pending, timeout=10_000)
    assert api.asked == [("batches", 200)] * 5 and ("batch", 7) not in api.asked
