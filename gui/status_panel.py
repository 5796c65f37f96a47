"""The status bar's permanent part: upload counts, total speed, and the worker's state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget
from upqueue.core import humanize
from upqueue.gui.icons import icon
from upqueue.gui.worker_supervisor import WorkerState

_STATE_TEXT = {
    WorkerState.RUNNING: ("#23a559", "Worker running"),
    WorkerState.STARTING: ("#e39a12", "Starting worker…"),
    WorkerState.UNREACHABLE: ("#e5484d", "Worker unreachable"),
}


def counts_text(counts: Mapping[str, int]) -> str:
    """ "3 uploading · 2 processing · 12 queued · 1 failed" (only the parts that are not zero).

    Processing (a server importing what it got) is told apart: it can take far longer than the
    upload, and nothing is being sent meanwhile.
    """
    parts = [
        (int(counts.get("uploading", 0)), "uploading"),
        (int(counts.get("processing", 0)), "processing"),
        (int(counts.get("retrying", 0)), "retrying"),
        (int(counts.get("queued", 0)), "queued"),
        (int(counts.get("paused", 0)), "paused"),
        (int(counts.get("failed", 0)), "failed"),
    ]
    text = " · ".join(f"{n:,} {label}" for n, label in parts if n)
    return text or "Nothing to upload"


class StatusPanel(QWidget):
    """Counts, speed and worker state, with a button to start the worker again.

    Signals:
        restart_requested(): the person asked to (re)start the worker.
    """

    restart_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(14)
        self.counts_label = QLabel("")
        self.counts_label.setObjectName("counts")
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("speed")
        self.state_label = QLabel("")
        self.state_label.setObjectName("worker-state")
        self.restart_button = QToolButton()
        self.restart_button.setIcon(icon("restart"))
        self.restart_button.setText("Restart worker")
        self.restart_button.setToolTip("Start the upload worker again")
        self.restart_button.setAutoRaise(True)
        self.restart_button.clicked.connect(self.restart_requested)
        for widget in (self.counts_label, self.speed_label, self.state_label, self.restart_button):
            layout.addWidget(widget)
        self.set_worker_state(WorkerState.STARTING.value, "")
        self.set_stats({"counts": {}, "speed": 0.0})

    def set_stats(self, stats: Mapping[str, Any]) -> None:
        """Show ``GET /api/stats``: counts by status and the total speed."""
        self.counts_label.setText(counts_text(stats.get("counts") or {}))
        speed = float(stats.get("speed") or 0.0)
        self.speed_label.setText(f"↑ {humanize.speed(speed)}" if speed > 0 else "")
        self.speed_label.setVisible(speed > 0)

    def clear_stats(self) -> None:
        """Say nothing about counts or speed: the worker that knew them is gone."""
        self.counts_label.setText("")
        self.speed_label.setText("")
        self.speed_label.setVisible(False)

    def set_worker_state(self, state: str, detail: str) -> None:
        colour, text = _STATE_TEXT.get(WorkerState(state), ("#8a94a6", state))
        self.state_label.setText(f"<span style='color:{colour}'>●</span> {text}")
        self.state_label.setToolTip(detail)
        # Restarting a worker that runs would only interrupt it; offer it when it is gone.
        self.restart_button.setVisible(state == WorkerState.UNREACHABLE)
