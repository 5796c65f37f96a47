"""What the Targets dialog does with its form: save, remove and test a target through the
worker, and close without losing what was typed (a mixin of gui.targets_dialog.TargetsDialog).

Apart from the dialog, which builds the form and shows a target in it, because these are the
dialog's conversations with the worker: each asks it something off the GUI thread and says
what came back in the result line.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from PySide6.QtCore import Signal
    from PySide6.QtWidgets import QDialog, QLineEdit, QPushButton

    # To mypy the mixin is the dialog (its Qt methods; reject() overrides QDialog's).
    DialogPart = QDialog
else:
    DialogPart = object

Call = Callable[..., None]
Ask = Callable[[str, Callable[[str], None]], None]


class TargetActions(DialogPart):
    """Saving, removing, testing and closing; TargetsDialog builds the widgets and state read
    here (declared below) and provides ``fields``, ``refresh``, ``_new``, ``_show`` and ``_say``.
    """

    changed: ClassVar[Signal]  # TargetsDialog's signal: a target was added, changed or removed
    name: QLineEdit
    url: QLineEdit
    secret: QLineEdit
    test_button: QPushButton
    ask_remove: Ask
    ask_unsaved: Ask
    _call: Call
    _current: dict[str, Any] | None  # None: a new, unsaved target
    _dirty: bool
    _close_after_save: bool

    if TYPE_CHECKING:

        def fields(self) -> dict[str, Any]: ...

        def refresh(self, select_id: int | None = None) -> None: ...

        def _new(self) -> None: ...

        def _show(self, target: dict[str, Any] | None) -> None: ...

        def _say(self, text: str, ok: bool | None, rich: bool = False) -> None: ...

    # -- saving ---------------------------------------------------------------------------

    def save(self) -> None:
        try:
            fields = self.fields()
        except ValueError as exc:
            self._say(f"Headers: {exc}", False)
            return
        if not fields["name"] or not fields["url"]:
            self._say("A target needs a name and a URL.", False)
            return
        current = self._current
        if current is None:
            fields["secret"] = fields["secret"] or None
            self._call(lambda api: api.add_target(**fields), self._saved, self._failed)
        else:
            self._call(
                lambda api: api.update_target(current["id"], **fields), self._saved, self._failed
            )
        self._say("Saving…", None)

    def _saved(self, target: dict[str, Any]) -> None:
        self._dirty = False
        self._current = target
        self._say(f"Saved “{html.escape(target['name'])}”.", True)
        self.changed.emit()
        self.refresh(target["id"])
        if self._close_after_save:
            self._close_after_save = False
            self._forget_and_close()

    # -- closing --------------------------------------------------------------------------

    def unsaved(self) -> bool:
        """Something was typed that is not saved (an untouched empty form does not count)."""
        if not self._dirty:
            return False
        if self._current is None:
            return bool(self.name.text().strip() or self.url.text().strip())
        return True

    def reject(self) -> None:
        """Close (Esc, the Close button, the title bar): ask first about an unsaved target."""
        if self.unsaved():
            self.ask_unsaved(self.name.text().strip(), self._unsaved_answer)
            return
        self._forget_and_close()

    def _unsaved_answer(self, answer: str) -> None:
        if answer == "save":
            self._close_after_save = True
            self.save()
        elif answer == "discard":
            self._forget_and_close()

    def _forget_and_close(self) -> None:
        # Opened again, the dialog shows the saved state, not an old form or test result.
        current = self._current
        if current is None:
            self._new()
        else:
            self._show(current)
        super().reject()

    def remove_current(self) -> None:
        current = self._current
        if current is None:
            return

        def answered(choice: str) -> None:
            if choice == "cancel":
                return
            self._call(
                lambda api: api.remove_target(current["id"], choice),
                lambda _: self._removed(),
                self._failed,
            )

        self.ask_remove(current["name"], answered)

    def _removed(self) -> None:
        self._current = None
        self.changed.emit()
        self.refresh()
        self._say("Target removed.", True)

    def test_connection(self) -> None:
        """Ask the worker to talk to the server with these settings; say what worked or not."""
        current = self._current
        if current is not None and not self._dirty:
            # Unchanged since saving: test the saved target, stored secret included.
            fn: Callable[[Any], Any] = lambda api: api.test_target(current["id"])
        else:
            try:
                fields = self.fields()
            except ValueError as exc:
                self._say(f"Headers: {exc}", False)
                return
            if not fields["url"]:
                self._say("Type the server's URL first.", False)
                return
            fields["name"] = fields["name"] or "test"
            fields["secret"] = fields["secret"] or None
            fn = lambda api: api.test_target_config(**fields)
        self.test_button.setEnabled(False)
        self._say("Testing the connection…", None)
        self._call(fn, self._tested, self._test_failed)

    def _tested(self, result: dict[str, Any]) -> None:
        self.test_button.setEnabled(True)
        note = ""
        if (
            not result.get("ok")
            and self._current
            and self._current.get("has_secret")
            and self._dirty
            and not self.secret.text()
        ):
            note = " (Tested without the stored secret: type it again to include it.)"
        self._say(
            f"<b>{html.escape(result.get('title', ''))}</b><br>{html.escape(result.get('message', ''))}{note}",
            bool(result.get("ok")),
            rich=True,
        )

    def _test_failed(self, error: BaseException) -> None:
        self.test_button.setEnabled(True)
        self._failed(error)

    def _failed(self, error: BaseException) -> None:
        self._close_after_save = False
        title = getattr(error, "title", "Something went wrong")
        message = getattr(error, "message", "See the log for details.")
        self._say(f"<b>{html.escape(title)}</b><br>{html.escape(message)}", False, rich=True)
