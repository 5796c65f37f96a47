"""The targets dialog shows the latest list: an answer that was on its way before a save does
not wipe the saved target's form (it did: a Test Connection right after saving saw an empty
form, now and then)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from upqueue.gui.targets_dialog import TargetsDialog

SAVED = {
    "id": 1,
    "name": "lab",
    "protocol": "tus",
    "url": "http://127.0.0.1:1/files/",
    "auth_kind": "none",
    "options": {},
    "headers": {},
    "chunk_size": 0,
    "has_secret": False,
}


class Deferred:
    """A ``call`` whose answers are delivered when the test says, in the order it says."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Callable[[Any], Any], Callable[[Any], None]]] = []

    def __call__(self, fn: Callable[[Any], Any], done: Callable[[Any], None], _error: Any) -> None:
        self.waiting.append((fn, done))

    def deliver(self, index: int, answer: Any) -> None:
        _fn, done = self.waiting[index]
        done(answer)


def test_an_answer_from_before_a_save_does_not_wipe_the_saved_form(qtbot: Any) -> None:
    call = Deferred()
    dialog = TargetsDialog(call)
    qtbot.addWidget(dialog)
    dialog.refresh()  # asked while a new target is being typed: the list has none yet
    dialog.name.setText("lab")
    dialog.url.setText(SAVED["url"])
    dialog._saved(dict(SAVED))  # the worker saved it; the dialog asks for the list again
    call.deliver(0, {"targets": []}["targets"])  # the first, stale answer arrives late
    assert dialog.name.text() == "lab" and dialog.url.text() == SAVED["url"]
    call.deliver(1, [dict(SAVED)])
    assert dialog.name.text() == "lab" and dialog.list.currentItem().text() == "lab"
    assert "Saved" in dialog.result_text() or dialog.result_text() == ""


def test_a_refresh_of_the_target_on_show_keeps_what_is_typed(qtbot: Any) -> None:
    call = Deferred()
    dialog = TargetsDialog(call)
    qtbot.addWidget(dialog)
    dialog.refresh()
    call.deliver(0, [dict(SAVED)])
    dialog.list.setCurrentRow(0)  # the person picks it
    assert dialog.name.text() == "lab"
    dialog.url.setText("http://127.0.0.1:2/files/")  # the person is editing
    dialog.refresh()  # someone else changed another target: the list comes again
    call.deliver(1, [dict(SAVED)])
    assert dialog.url.text() == "http://127.0.0.1:2/files/", "the edit survives the refresh"
