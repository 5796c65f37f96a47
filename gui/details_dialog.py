"""The details of one upload: its fields, and its events — what happened, when, and why."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from upqueue.core import humanize, progress
from upqueue.core.models import FINISHED_STATUSES, Status
from upqueue.gui.icons import icon, status_icon
from upqueue.gui.models.upload_row import STATUS_LABELS

Call = Callable[..., None]
REFRESH_MS = 1000
_EVENT_COLUMNS = ("When", "What", "Status", "Details")


class DetailsDialog(QDialog):
    """Shows one upload and its history; refreshes itself while the upload is unfinished.

    Args:
        call: ``call(fn, on_done, on_error)`` runs ``fn(api)`` off the GUI thread.
        upload_id: the upload to show.
        parent: the window.
    """

    def __init__(self, call: Call, upload_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("details-dialog")
        self.setWindowTitle(f"Upload {upload_id}")
        self.resize(720, 560)
        self._call = call
        self.upload_id = upload_id
        self.upload: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []  # a dataset's files, its primary first
        self._in_flight = False

        self.badge = QLabel()
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(self.badge)
        header.addWidget(self.title, 1)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label in (
            ("path", "File:"),
            ("target", "Target:"),
            ("progress", "Sent:"),
            ("speed", "Speed:"),
            ("error", "Reason:"),
            ("result_url", "Remote URL:"),
            ("attempts", "Failed attempts:"),
            ("created_at", "Added:"),
            ("started_at", "Started:"),
            ("finished_at", "Finished:"),
        ):
            value = QLabel()
            value.setObjectName(f"detail-{key}")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = value
            form.addRow(label, value)
        # where the upload is on the server (a published dataset's page): a link to click
        link = self.fields["result_url"]
        link.setTextFormat(Qt.TextFormat.RichText)
        link.setOpenExternalLinks(True)
        link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.table = QTableWidget(0, len(_EVENT_COLUMNS))
        self.table.setObjectName("details-events")
        self.table.setHorizontalHeaderLabels(list(_EVENT_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 150)
        self.table.setColumnWidth(1, 90)
        self.table.setColumnWidth(2, 90)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        refresh = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        refresh.setIcon(icon("restart"))
        refresh.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        events_label = QLabel("<b>History</b>")
        layout.addWidget(events_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        if self._in_flight:
            return
        self._in_flight = True
        self._call(lambda api: api.upload(self.upload_id), self._loaded, self._failed)

    def _loaded(self, answer: dict[str, Any]) -> None:
        self._in_flight = False
        self.upload = answer["upload"]
        self.events = answer.get("events") or []
        self.members = answer.get("members") or []
        self._show(self.upload)
        self._show_events(self.events)
        finished = self.upload.get("status") in FINISHED_STATUSES
        if finished:
            self._timer.stop()
        elif not self._timer.isActive() and self.isVisible():
            self._timer.start()

    def _failed(self, error: BaseException) -> None:
        self._in_flight = False
        self._timer.stop()
        title = getattr(error, "title", "Could not load the upload")
        message = getattr(error, "message", "See the log for details.")
        self.title.setText(f"<b>{html.escape(title)}</b><br>{html.escape(message)}")

    def _show(self, upload: dict[str, Any]) -> None:
        status = upload.get("status") or ""
        self.setWindowTitle(f"{upload.get('name')} — details")
        self.badge.setPixmap(status_icon(status).pixmap(32, 32))
        label = STATUS_LABELS.get(status, status)
        if status == Status.PROCESSING:
            label = humanize.processing(
                upload.get("processing_progress"), upload.get("processing_message")
            )
        self.title.setText(
            f"<b style='font-size:large'>{html.escape(upload.get('name') or '')}</b><br>"
            f"{html.escape(label)}"
        )
        size, offset = upload.get("size") or 0, upload.get("offset") or 0
        sent = size if status == Status.DONE else offset
        speed = float(upload.get("speed") or 0.0) if status == Status.UPLOADING else 0.0
        eta = humanize.eta(progress.eta_seconds(size, sent, speed)) if speed else ""
        error = ""
        if upload.get("error_title"):
            error = f"{upload['error_title']}. {upload.get('error_message') or ''}".strip()
        path = upload.get("path") or ""
        others = [m["name"] for m in self.members[1:]]
        if others:  # a dataset: the files that went with it
            path += "\nwith " + ", ".join(others)
        values = {
            "path": path,
            "target": upload.get("target_name") or "",
            "progress": f"{humanize.size(sent)} of {humanize.size(size)} "
            f"({progress.percent(size, sent) if status != Status.DONE else 100:.1f}%)",
            "speed": f"{humanize.speed(speed)}  {eta}".strip() if speed else "—",
            "error": error or "—",
            "result_url": upload.get("result_url") or "—",
            "attempts": str(upload.get("attempts") or "none"),
            "created_at": humanize.local_time(upload.get("created_at")),
            "started_at": humanize.local_time(upload.get("started_at")) or "—",
            "finished_at": humanize.local_time(upload.get("finished_at")) or "—",
        }
        url = upload.get("result_url")
        if url:
            values["result_url"] = (
                f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'
            )
        for key, value in values.items():
            self.fields[key].setText(value)

    def _show_events(self, events: list[dict[str, Any]]) -> None:
        self.table.setRowCount(len(events))
        for row, event in enumerate(events):
            detail = event.get("title") or ""
            if event.get("message"):
                detail = f"{detail}: {event['message']}" if detail else event["message"]
            cells = (
                humanize.local_time(event.get("at")),
                str(event.get("kind") or "").replace("_", " "),
                STATUS_LABELS.get(event.get("status") or "", event.get("status") or ""),
                detail,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 2 and event.get("status"):
                    item.setIcon(status_icon(event["status"]))
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        self.table.scrollToBottom()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.upload is None or self.upload.get("status") not in FINISHED_STATUSES:
            self._timer.start()

    def hideEvent(self, event: Any) -> None:
        self._timer.stop()
        super().hideEvent(event)
