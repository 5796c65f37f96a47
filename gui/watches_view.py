"""The Watched folders page: each folder's state and counts, and the batches they produced.

A watched folder turns new files into uploads on its own; each round of them is a batch with
total / done / failed counts. A batch's uploads can be shown in the queue ("Show in Queue").
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from upqueue.core import humanize
from upqueue.gui.icons import icon, status_icon
from upqueue.gui.models.list_model import ROW_ROLE, Column, ListModel
from upqueue.gui.watch_dialog import WatchDialog

Call = Callable[..., None]
REFRESH_MS = 2000
# A watch's state shown with the status badges people already know from the queue.
_STATE_BADGES = {
    "watching": "done",
    "paused": "paused",
    "unavailable": "failed",
    "starting": "queued",
}
_BATCH_BADGES = {"open": "uploading", "finished": "done", "finished_with_failures": "failed"}


def batch_progress(batch: dict[str, Any]) -> str:
    """ "12 of 40 done · 2 failed" (and "collecting" while files still arrive)."""
    total, done, failed = (
        int(batch.get("total") or 0),
        int(batch.get("done") or 0),
        int(batch.get("failed") or 0),
    )
    text = f"{done:,} of {total:,} done"
    if failed:
        text += f" · {failed:,} failed"
    if batch.get("collecting"):
        text += " · collecting"
    return text


def batch_state(batch: dict[str, Any]) -> str:
    return {
        "open": "Uploading",
        "finished": "Finished",
        "finished_with_failures": "Finished with failures",
    }.get(batch.get("state") or "", str(batch.get("state") or ""))


WATCH_COLUMNS = [
    Column("Folder", lambda w: w.get("path") or "", lambda w: w.get("path")),
    Column("Target", lambda w: w.get("target_name") or ""),
    Column(
        "State",
        lambda w: str(w.get("state") or "").title(),
        lambda w: w.get("state_message") or str(w.get("state") or "").title(),
        lambda w: status_icon(_STATE_BADGES.get(w.get("state") or "", "queued")),
    ),
    Column(
        "Waiting",
        lambda w: f"{int(w.get('pending') or 0):,}",
        lambda w: "Files settling before upload",
    ),
    Column(
        "Uploaded",
        lambda w: f"{int(w.get('sent') or 0):,}",
        lambda w: "Files sent from this folder",
    ),
    Column("Latest batch", lambda w: batch_progress(w["batch"]) if w.get("batch") else "—"),
    Column(
        "Options",
        lambda w: ", ".join(
            part
            for part in (
                "subfolders" if w.get("recursive") else "",
                f"only {', '.join(w['include'])}" if w.get("include") else "",
                f"then {w.get('after_upload')}"
                if w.get("after_upload") not in (None, "keep")
                else "",
                "polling" if w.get("polling") else "",
            )
            if part
        ),
    ),
]
BATCH_COLUMNS = [
    Column("Batch", lambda b: f"#{b['id']}"),
    Column(
        "Folder", lambda b: b.get("watch_path") or "added by hand", lambda b: b.get("manifest_path")
    ),
    Column(
        "State",
        batch_state,
        None,
        lambda b: status_icon(_BATCH_BADGES.get(b.get("state") or "", "queued")),
    ),
    Column("Progress", batch_progress),
    Column("Started", lambda b: humanize.local_time(b.get("created_at"))[:16]),
    Column("Finished", lambda b: humanize.local_time(b.get("finished_at"))[:16]),
]


def _table(model: ListModel, name: str, widths: list[int], stretch: int) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # folders keep both ends
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 14)
    header = table.horizontalHeader()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setHighlightSections(False)
    for column, width in enumerate(widths):
        table.setColumnWidth(column, width)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


class WatchesView(QWidget):
    """Watched folders and their batches.

    Args:
        call: ``call(fn, on_done, on_error)`` runs ``fn(api)`` off the GUI thread.
        show_batch: ``show_batch(batch_id, label)`` shows one batch's uploads in the queue.
        targets: returns the current targets (for the add/edit form).
    """

    def __init__(
        self,
        call: Call,
        show_batch: Callable[[int | None, str], None],
        targets: Callable[[], list[dict[str, Any]]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("watches")
        self._call = call
        self._show_batch = show_batch
        self._targets = targets
        self._in_flight = False
        self.confirm: Callable[[str, str], bool] = self._confirm
        self.watches = ListModel(WATCH_COLUMNS, self)
        self.batches = ListModel(BATCH_COLUMNS, self)
        self.watch_table = _table(self.watches, "watch-table", [260, 100, 120, 70, 80, 190, 170], 0)
        self.batch_table = _table(self.batches, "batch-table", [70, 260, 190, 220, 130, 130], 1)
        self.watch_table.doubleClicked.connect(lambda _i: self.edit())
        self.batch_table.doubleClicked.connect(lambda _i: self.show_selected_batch())
        self.buttons: dict[str, QPushButton] = {}
        top = QHBoxLayout()
        for key, text, icon_name, slot in (
            ("add", "Watch a Folder…", "add-folder", self.add),
            ("edit", "Edit…", "edit", self.edit),
            ("remove", "Stop Watching", "remove", self.remove),
            ("pause", "Pause", "pause", lambda: self._toggle("pause")),
            ("resume", "Resume", "resume", lambda: self._toggle("resume")),
        ):
            button = QPushButton(icon(icon_name), text)
            button.setObjectName(f"watch-{key}")
            button.clicked.connect(slot)
            self.buttons[key] = button
            top.addWidget(button)
        top.addStretch(1)
        show = QPushButton(icon("all"), "Show in Queue")
        show.setObjectName("batch-show")
        show.clicked.connect(self.show_selected_batch)
        self.buttons["show_batch"] = show
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("<b>Batches</b> — each round of files a folder sent"))
        bottom.addStretch(1)
        bottom.addWidget(show)
        self.message = QLabel()
        self.message.setObjectName("watches-message")
        self.message.setWordWrap(True)
        upper, lower = QWidget(), QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(self.watch_table)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(bottom)
        lower_layout.addWidget(self.batch_table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        self.watch_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.batch_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_buttons()

    # -- data -----------------------------------------------------------------------------

    def refresh(self) -> None:
        if self._in_flight:
            return
        self._in_flight = True

        def fetch(api: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return api.watches()["watches"], api.batches(limit=200)["batches"]

        self._call(fetch, self._loaded, self._failed)

    def _loaded(self, result: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        self._in_flight = False
        watches, batches = result
        self.watches.set_rows(watches)
        self.batches.set_rows(batches)
        self._update_buttons()
        if not watches:
            self.message.setText(
                "No watched folders yet. “Watch a Folder…” uploads every file that lands in it."
            )
        else:
            self.message.setText("")

    def _failed(self, error: BaseException) -> None:
        self._in_flight = False
        title = getattr(error, "title", "Something went wrong")
        message = getattr(error, "message", str(error))
        self.message.setText(f"<b>{html.escape(title)}</b>: {html.escape(message)}")

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._timer.start()

    def hideEvent(self, event: Any) -> None:
        self._timer.stop()
        super().hideEvent(event)

    # -- actions --------------------------------------------------------------------------

    def selected_watch(self) -> dict[str, Any] | None:
        rows = self.watch_table.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def selected_batch(self) -> dict[str, Any] | None:
        rows = self.batch_table.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def _update_buttons(self, *_: Any) -> None:
        watch = self.selected_watch()
        self.buttons["edit"].setEnabled(watch is not None)
        self.buttons["remove"].setEnabled(watch is not None)
        self.buttons["pause"].setEnabled(bool(watch) and not watch.get("paused"))  # type: ignore[union-attr]
        self.buttons["resume"].setEnabled(bool(watch) and bool(watch.get("paused")))  # type: ignore[union-attr]
        self.buttons["show_batch"].setEnabled(self.selected_batch() is not None)

    def add(self) -> WatchDialog:
        return self._open(None)

    def edit(self) -> WatchDialog | None:
        watch = self.selected_watch()
        return self._open(watch) if watch else None

    def _open(self, watch: dict[str, Any] | None) -> WatchDialog:
        dialog = WatchDialog(self._call, self._targets(), watch, self)
        dialog.saved.connect(lambda _w: self.refresh())
        dialog.open()
        self.dialog = dialog
        return dialog

    def remove(self) -> None:
        watch = self.selected_watch()
        if watch is None:
            return
        if not self.confirm(
            "Stop watching?",
            f"Stop watching {watch['path']}?\n\nFiles already queued keep uploading; "
            "new files in the folder are no longer picked up.",
        ):
            return
        self._call(
            lambda api: api.remove_watch(watch["id"]), lambda _r: self.refresh(), self._failed
        )

    def _toggle(self, action: str) -> None:
        watch = self.selected_watch()
        if watch is None:
            return
        fn = (
            (lambda api: api.pause_watch(watch["id"]))
            if action == "pause"
            else (lambda api: api.resume_watch(watch["id"]))
        )
        self._call(fn, lambda _r: self.refresh(), self._failed)

    def show_selected_batch(self) -> None:
        batch = self.selected_batch()
        if batch is not None:
            label = f"{batch.get('watch_path') or 'added by hand'}: {batch_progress(batch)}"
            self._show_batch(int(batch["id"]), label)

    def _confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes
