"""The window paints a first page, then loads the rest, then follows changes with one request a
poll (issue 12 point 3). The real worker's side of it (after_id pages, long polls, the counts in
the answer) is tested in tests/test_long_poll.py; the timings are bench/gui_queue.py's.
"""

from __future__ import annotations

from typing import Any

import pytest
from upqueue.gui.poller import FIRST_PAGE

from tests.fixtures.gui import FakeApi

# The window fixtures (fake_api, make_window) come from tests/fixtures/gui.py via the root conftest.
pytestmark = pytest.mark.qt_log_ignore("^This plugin does not support")


class CountingApi(FakeApi):
    """A FakeApi that notes each request and the size of each answer."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, dict[str, Any], int]] = []
        self._answering = False

    def uploads(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self._answering = True  # FakeApi folds its own stats() in: not a request
            try:
                answer = super().uploads(*args, **kwargs)
            finally:
                self._answering = False
            self.requests.append(("uploads", kwargs, len(answer["uploads"])))
            return answer

    def stats(self) -> dict[str, Any]:
        with self.lock:
            if not self._answering:
                self.requests.append(("stats", {}, 0))
            return super().stats()


def test_a_long_queue_paints_its_first_page_then_loads_the_rest(qtbot: Any, make_window: Any):
    api = CountingApi()
    api.add_target_row("geo")
    total = FIRST_PAGE * 2 + 37
    for number in range(total):
        api.put(status="queued" if number % 3 else "done")
    window = make_window(api)
    # make_window waited for the first load; what did the first answer hold?
    first = api.requests[0]
    assert first[0] == "uploads" and first[1].get("limit") == FIRST_PAGE and first[2] == FIRST_PAGE
    assert first[1].get("stats") is True
    qtbot.waitUntil(lambda: window.model.rowCount() == total, timeout=10000)
    rest = api.requests[1]
    assert rest[1].get("after_id") == FIRST_PAGE and rest[2] == total - FIRST_PAGE

    # Changes after the load: each poll is one request (the counts come in its answer).
    row = api.put(id=FIRST_PAGE + 5, status="uploading", offset=10)
    qtbot.waitUntil(lambda: window.model.upload(row["id"])["status"] == "uploading", timeout=5000)
    qtbot.waitUntil(lambda: window.sidebar.group_count("active") >= 1, timeout=5000)
    assert not [r for r in api.requests if r[0] == "stats"], "a poll asked for stats separately"
    polls = [r for r in api.requests[2:] if r[0] == "uploads"]
    assert polls and all(r[1].get("since") is not None and r[1].get("wait") for r in polls)
    assert window.model.rowCount() == total
