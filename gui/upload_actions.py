"""The actions on uploads (toolbar, context menu, keys) and which of them a selection allows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from upqueue.core.models import CANCELLABLE, PAUSABLE, RESUMABLE, RETRYABLE
from upqueue.gui.icons import icon

# (key, text, icon, shortcut, tooltip)
_DEFINITIONS: list[tuple[str, str, str, str | None, str]] = [
    ("add_files", "Add &Files…", "add-file", "Ctrl+O", "Queue files for upload"),
    ("add_folder", "Add F&older…", "add-folder", "Ctrl+Shift+O", "Queue every file in a folder"),
    ("pause", "&Pause", "pause", None, "Pause the selected uploads"),
    ("resume", "&Resume", "resume", None, "Resume the selected uploads"),
    ("toggle", "Pause/Resume", "pause", "Space", "Pause or resume the selected uploads"),
    ("cancel", "&Cancel", "cancel", None, "Cancel the selected uploads"),
    ("retry", "Re&try", "retry", "Ctrl+R", "Try the selected uploads again"),
    (
        "remove",
        "Re&move from List",
        "remove",
        "Delete",
        "Remove the selected uploads from the list",
    ),
    ("open_folder", "Open Containing &Folder", "open-folder", None, "Show the file in its folder"),
    (
        "open_link",
        "Open &Link",
        "copy-link",
        "Ctrl+L",
        "Open where the upload is on the server (a published dataset's page) in the browser",
    ),
    (
        "copy_url",
        "Copy Remote &URL",
        "copy-link",
        "Ctrl+Shift+C",
        "Copy the upload's address on the server",
    ),
    ("details", "&Details…", "details", "Ctrl+I", "What happened to this upload, when and why"),
    ("pause_all", "Pause &All", "pause-all", "Ctrl+Shift+P", "Pause every upload"),
    ("resume_all", "Resume A&ll", "resume-all", "Ctrl+Shift+R", "Resume every paused upload"),
    (
        "clear_finished",
        "C&lear Finished",
        "remove",
        None,
        "Remove every finished upload from the list (the files stay on the server)",
    ),
    ("select_all", "Select &All", "all", "Ctrl+A", "Select every upload that shows"),
    ("search", "&Find…", "search", "Ctrl+F", "Search the queue by name"),
    ("targets", "&Targets…", "targets", None, "Servers to upload to"),
    ("settings", "&Settings…", "settings", "Ctrl+,", "Parallel uploads, bandwidth, retries"),
    ("quit", "&Quit", "quit", "Ctrl+Q", "Quit upqueue"),
]


def allowed(uploads: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """Which per-selection actions apply to these uploads.

    An action is offered when it applies to at least one selected upload; the worker skips
    the others (and says why).
    """
    selected = list(uploads)
    statuses = {upload.get("status") for upload in selected}
    return {
        "pause": bool(statuses & PAUSABLE),
        "resume": bool(statuses & RESUMABLE),
        "toggle": bool(statuses & (PAUSABLE | RESUMABLE)),
        "cancel": bool(statuses & CANCELLABLE),
        "retry": bool(statuses & RETRYABLE),
        "remove": bool(selected),
        "open_folder": bool(selected),
        "open_link": any(upload.get("result_url") for upload in selected),
        "copy_url": any(upload.get("result_url") for upload in selected),
        "details": len(selected) == 1,
    }


def toggle_action(uploads: Iterable[Mapping[str, Any]]) -> str | None:
    """What Space does: pause when anything selected can pause, else resume, else nothing."""
    statuses = {upload.get("status") for upload in uploads}
    if statuses & PAUSABLE:
        return "pause"
    if statuses & RESUMABLE:
        return "resume"
    return None


def would_cancel(uploads: Iterable[Mapping[str, Any]]) -> int:
    """How many of these uploads removing would cancel (they have not finished)."""
    return sum(1 for upload in uploads if upload.get("status") in CANCELLABLE)


class UploadActions(QObject):
    """Holds the window's QActions by key (``actions["pause"]``)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.actions: dict[str, QAction] = {}
        for key, text, icon_name, shortcut, tip in _DEFINITIONS:
            action = QAction(icon(icon_name), text, parent)
            action.setObjectName(f"action-{key}")
            action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
            action.setStatusTip(tip)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            self.actions[key] = action

    def __getitem__(self, key: str) -> QAction:
        return self.actions[key]

    def update(self, uploads: Sequence[Mapping[str, Any]]) -> None:
        """Enable the per-selection actions that apply to ``uploads``."""
        for key, enabled in allowed(uploads).items():
            self.actions[key].setEnabled(enabled)

    def refresh_icons(self) -> None:
        """Re-tint the icons after the palette changed (light <-> dark)."""
        for key, _text, icon_name, _shortcut, _tip in _DEFINITIONS:
            self.actions[key].setIcon(icon(icon_name))
