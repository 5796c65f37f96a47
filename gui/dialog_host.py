"""The window's dialogs and pages, made on first use and kept (one of each; details per upload).

:class:`DialogHost` gets what the dialogs need in its constructor, so that it neither knows nor
imports the main window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

Call = Callable[..., None]


class DialogHost:
    """Opens (or brings forward) the Targets, Settings and details dialogs, and makes pages.

    Args:
        call: ``call(fn, on_done, on_error=None)`` runs ``fn(api)`` off the GUI thread.
        parent: the window the dialogs belong to.
        targets_changed: called after the Targets dialog changed something.
        settings_applied: ``settings_applied(settings)`` after Settings applied them.
        show_batch: ``show_batch(batch_id, label)`` (the Watched folders page links batches).
        targets: ``targets() -> list of targets`` (for the Watched folders page).
    """

    def __init__(
        self,
        call: Call,
        parent: QWidget,
        targets_changed: Callable[[], None],
        settings_applied: Callable[[dict[str, Any]], None],
        show_batch: Callable[..., None],
        targets: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.call = call
        self.parent = parent
        self.targets_changed = targets_changed
        self.settings_applied = settings_applied
        self.show_batch = show_batch
        self.targets = targets
        self.dialogs: dict[str, QWidget] = {}

    def make_page(self, key: str) -> QWidget:
        """The Watched folders or History page."""
        if key == "history":
            from upqueue.gui.history_view import HistoryView

            return HistoryView(self.call)
        if key == "watches":
            from upqueue.gui.watches_view import WatchesView

            return WatchesView(self.call, self.show_batch, self.targets)
        raise ValueError(f"unknown page {key!r}")

    def open(self, key: str) -> QWidget:
        """Open (or bring forward) the Targets or Settings dialog."""
        dialog = self.dialogs.get(key)
        if dialog is None:
            if key == "targets":
                from upqueue.gui.targets_dialog import TargetsDialog

                targets = TargetsDialog(self.call, self.parent)
                targets.changed.connect(self.targets_changed)
                dialog = targets
            elif key == "settings":
                from upqueue.gui.settings_dialog import SettingsDialog

                settings = SettingsDialog(self.call, self.parent)
                settings.applied.connect(self.settings_applied)
                dialog = settings
            else:
                raise ValueError(f"unknown dialog {key!r}")
            self.dialogs[key] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        refresh = getattr(dialog, "refresh", None)
        if refresh:
            refresh()
        return dialog

    def refresh_open(self, key: str) -> None:
        """Refresh a dialog if it is open (something changed elsewhere)."""
        dialog = self.dialogs.get(key)
        refresh = getattr(dialog, "refresh", None)
        if dialog is not None and dialog.isVisible() and refresh:
            refresh()

    def open_details(self, upload_id: int) -> QWidget:
        """The details of one upload (one dialog per upload; opening it again raises it)."""
        from upqueue.gui.details_dialog import DetailsDialog

        key = f"details-{upload_id}"
        dialog = self.dialogs.get(key)
        if dialog is None:
            details = DetailsDialog(self.call, upload_id, self.parent)
            details.finished.connect(lambda _result: self.dialogs.pop(key, None))
            dialog = details
            self.dialogs[key] = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def close_all(self) -> None:
        """On quit: hide them (closing would ask about an unsaved target, modally)."""
        for dialog in list(self.dialogs.values()):
            dialog.hide()
