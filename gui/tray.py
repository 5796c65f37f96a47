"""The tray icon (overall progress, a small menu) and the desktop notifications it shows.

:class:`NotificationPolicy` decides *what* to tell a person (one upload failed, everything
finished) from the status changes the queue model reports; :class:`Tray` shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon
from upqueue.core import humanize, progress
from upqueue.core.models import FINISHED_STATUSES, Status
from upqueue.gui.icons import app_icon, icon

# More failures than this in one poll become one summary instead of a flood of bubbles.
_MAX_SINGLE_FAILURES = 3


def tooltip_text(counts: Mapping[str, int], speed: float, sent: int, total: int) -> str:
    """The tray tooltip: how far the unfinished uploads are, how fast, how long to go.

    Args:
        counts: uploads by status (``GET /api/stats``).
        speed: total bytes per second.
        sent: bytes sent of the unfinished uploads.
        total: bytes of the unfinished uploads.
    """
    sending = int(counts.get("uploading", 0))
    processing = int(counts.get("processing", 0))
    waiting = int(counts.get("queued", 0)) + int(counts.get("retrying", 0))
    failed = int(counts.get("failed", 0))
    if not total or not (sending or processing or waiting or counts.get("paused")):
        tail = f" · {failed:,} failed" if failed else ""
        return f"upqueue — nothing to upload{tail}"
    percent = 100.0 * sent / total
    lines = [f"upqueue — {percent:.0f}% of {humanize.size(total)}"]
    parts = []
    if sending:
        parts.append(f"{sending:,} uploading")
    if processing:
        parts.append(f"{processing:,} processing")
    if waiting:
        parts.append(f"{waiting:,} waiting")
    if counts.get("paused"):
        parts.append(f"{int(counts['paused']):,} paused")
    if failed:
        parts.append(f"{failed:,} failed")
    lines.append(" · ".join(parts))
    if speed > 0:
        left = humanize.eta(progress.eta_seconds(total, sent, speed))
        lines.append(f"↑ {humanize.speed(speed)}" + (f" · {left}" if left else ""))
    return "\n".join(lines)


class NotificationPolicy:
    """Turns status changes into the notifications a person wants, and no more.

    A failure is reported as it happens (with its reason); "all finished" once the queue
    runs dry after something finished.
    """

    def __init__(self) -> None:
        self._done = 0
        self._failed = 0
        self._was_active = False
        self._batches_told: set[Any] = set()

    def on_transitions(
        self,
        transitions: Iterable[tuple[int, str | None, str]],
        uploads: Mapping[int, Mapping[str, Any]],
    ) -> list[tuple[str, str, bool]]:
        """Notifications for status changes: ``(title, message, is_error)``.

        Besides failures, each upload the server processed (a published dataset) is told as it
        finishes, with where it now is: that is the moment its sender waits for.
        """
        failures = []
        processed = []
        for upload_id, old, new in transitions:
            # A new one (old None) came after the window loaded: one that failed before the
            # window saw it queued (a server refusing at once) is told like any other.
            if old == new:
                continue
            if new == Status.DONE:
                self._done += 1
                if old == Status.PROCESSING:
                    processed.append(uploads.get(upload_id, {}))
            elif new == Status.FAILED:
                self._failed += 1
                failures.append(uploads.get(upload_id, {}))
        notes = self._processed_notes(processed)
        if not failures:
            return notes
        if len(failures) > _MAX_SINGLE_FAILURES:
            first = failures[0]
            reason = first.get("error_title") or "see the queue for the reasons"
            return [
                (f"{len(failures)} uploads failed", f"First: {first.get('name')}: {reason}", True)
            ]
        return notes + [
            (
                f"Upload failed: {upload.get('name') or 'a file'}",
                f"{upload.get('error_title') or 'Failed'}. {upload.get('error_message') or ''}".strip(),
                True,
            )
            for upload in failures
        ]

    @staticmethod
    def _processed_notes(processed: list[Mapping[str, Any]]) -> list[tuple[str, str, bool]]:
        if len(processed) > _MAX_SINGLE_FAILURES:
            first = processed[0]
            return [
                (
                    f"{len(processed)} uploads finished on the server",
                    f"First: {first.get('name')}: {first.get('result_url') or 'done'}",
                    False,
                )
            ]
        return [
            (
                f"Finished: {upload.get('name') or 'a file'}",
                f"The server finished processing it: {upload.get('result_url')}"
                if upload.get("result_url")
                else "The server finished processing it.",
                False,
            )
            for upload in processed
        ]

    @staticmethod
    def batches_ending(
        transitions: Iterable[tuple[int, str | None, str]], uploads: Mapping[int, Mapping[str, Any]]
    ) -> set[int]:
        """Batches (watched folders) one of whose uploads just ended: ask about those."""
        return {
            int(uploads[i]["batch_id"])
            for i, old, new in transitions
            if old != new and new in FINISHED_STATUSES and uploads.get(i, {}).get("batch_id")
        }

    def on_batch(self, answer: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
        """One notification per finished batch, in the worker's words (counts, every reason).

        ``answer`` is ``GET /api/batches/{id}``; an open batch gives nothing (yet).
        """
        batch = answer.get("batch") or {}
        if batch.get("state") in (None, "open") or batch.get("id") in self._batches_told:
            return []
        self._batches_told.add(batch.get("id"))
        ending = next(
            (
                e
                for e in reversed(list(answer.get("events") or []))
                if e.get("kind") == "batch" and e.get("status") == batch.get("state")
            ),
            None,
        )
        title = (ending or {}).get("title") or "Batch finished"
        message = (ending or {}).get("message") or (
            f"{batch.get('done', 0)} of {batch.get('total', 0)} done, "
            f"{batch.get('failed', 0)} failed."
        )
        return [(title, message.split(" Manifest: ")[0], bool(batch.get("failed")))]

    def on_stats(self, stats: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
        """The "all finished" notification when nothing is left to do."""
        active = int(stats.get("active") or 0)
        result = []
        if self._was_active and active == 0 and (self._done or self._failed):
            if self._failed:
                message = f"{self._done:,} uploaded, {self._failed:,} failed."
            else:
                message = f"{self._done:,} file{'s' if self._done != 1 else ''} uploaded."
            result.append(("All uploads finished", message, bool(self._failed)))
            self._done = self._failed = 0
        self._was_active = active > 0
        return result


class Tray(QObject):
    """The tray icon with its menu; notifications go through it.

    Works without a system tray too (offscreen tests, some desktops): then nothing shows,
    but the tooltip and the notifications are still recorded for the window and the tests.

    Signals:
        show_requested(): Show was chosen, or the icon clicked.
        pause_all(), resume_all(), quit_requested(): menu entries.
    """

    show_requested = Signal()
    pause_all = Signal()
    resume_all = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tooltip = "upqueue"
        self.notifications: list[tuple[str, str, bool]] = []
        self.menu = QMenu()
        self.menu.setObjectName("tray-menu")
        self._add("Show upqueue", "upload", self.show_requested)
        self.menu.addSeparator()
        self._add("Pause All", "pause-all", self.pause_all)
        self._add("Resume All", "resume-all", self.resume_all)
        self.menu.addSeparator()
        self._add("Quit", "quit", self.quit_requested)
        self.icon: QSystemTrayIcon | None = None
        if self.available:
            self.icon = QSystemTrayIcon(app_icon(), self)
            self.icon.setContextMenu(self.menu)
            self.icon.setToolTip(self.tooltip)
            self.icon.activated.connect(self._activated)
            self.icon.show()

    def _add(self, text: str, icon_name: str, signal: Any) -> QAction:
        action = self.menu.addAction(icon(icon_name), text)
        action.triggered.connect(signal)
        return action

    def set_tooltip(self, text: str) -> None:
        if text != self.tooltip:
            self.tooltip = text
            if self.icon is not None:
                self.icon.setToolTip(text)

    def notify(self, title: str, message: str, error: bool = False) -> None:
        """A desktop notification (a tray bubble where the desktop has a tray)."""
        self.notifications.append((title, message, error))
        if self.icon is not None and QSystemTrayIcon.supportsMessages():
            kind = (
                QSystemTrayIcon.MessageIcon.Warning
                if error
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.icon.showMessage(title, message, kind, 8000)

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.show_requested.emit()
