"""The Settings dialog: changes apply at once (the worker takes them live), no OK button needed."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from upqueue.core.settings import MAX_CONCURRENCY

Call = Callable[..., None]
_MB = 1_000_000  # bandwidth in decimal MB/s, as speeds show everywhere else
_MIB = 1 << 20  # chunk sizes in MiB, as people mean them for chunks
_HOUR = 3600.0
APPLY_DELAY_MS = 400  # typing "100" in a spin box is three values; send the last one


class SettingsDialog(QDialog):
    """Edits the worker's settings.

    Args:
        call: ``call(fn, on_done, on_error)`` runs ``fn(api)`` off the GUI thread.
        parent: the window.

    Signals:
        applied(dict): the settings after a change was accepted by the worker.
    """

    applied = Signal(dict)

    def __init__(self, call: Call, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settings-dialog")
        self._call = call
        self._loading = False
        self._pending: dict[str, Any] = {}
        self.settings: dict[str, Any] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(APPLY_DELAY_MS)
        self._timer.timeout.connect(self.apply_now)

        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, MAX_CONCURRENCY)
        self.bandwidth = QDoubleSpinBox()
        self.bandwidth.setRange(0.0, 100_000.0)
        self.bandwidth.setDecimals(1)
        self.bandwidth.setSingleStep(0.5)
        self.bandwidth.setSuffix(" MB/s")
        self.bandwidth.setSpecialValueText("Unlimited")
        self.chunk = QSpinBox()
        self.chunk.setRange(0, 4096)
        self.chunk.setSuffix(" MiB")
        self.chunk.setSpecialValueText("Whole file in one request")
        self.retries = QSpinBox()
        self.retries.setRange(0, 1000)
        self.auto_cancel = QDoubleSpinBox()
        self.auto_cancel.setRange(0.0, 24 * 365)
        self.auto_cancel.setDecimals(1)
        self.auto_cancel.setSuffix(" h")
        self.auto_cancel.setSpecialValueText("Never")
        self.keep_uploading = QCheckBox("Keep uploading when the window is closed")
        self.notifications = QCheckBox("Notify when uploads finish or fail")
        self._fields: dict[str, tuple[QWidget, Callable[[], Any], Callable[[Any], None]]] = {
            "concurrency": (
                self.concurrency,
                self.concurrency.value,
                lambda v: self.concurrency.setValue(int(v)),
            ),
            "bandwidth_limit": (
                self.bandwidth,
                lambda: round(self.bandwidth.value() * _MB),
                lambda v: self.bandwidth.setValue(float(v) / _MB),
            ),
            "chunk_size": (
                self.chunk,
                lambda: self.chunk.value() * _MIB,
                lambda v: self.chunk.setValue(int(v) // _MIB),
            ),
            "retry_limit": (
                self.retries,
                self.retries.value,
                lambda v: self.retries.setValue(int(v)),
            ),
            "auto_cancel_paused_after": (
                self.auto_cancel,
                lambda: self.auto_cancel.value() * _HOUR,
                lambda v: self.auto_cancel.setValue(float(v) / _HOUR),
            ),
            "keep_uploading_on_close": (
                self.keep_uploading,
                self.keep_uploading.isChecked,
                lambda v: self.keep_uploading.setChecked(bool(v)),
            ),
            "notifications": (
                self.notifications,
                self.notifications.isChecked,
                lambda v: self.notifications.setChecked(bool(v)),
            ),
        }
        form = QFormLayout()
        form.addRow("Parallel uploads:", self.concurrency)
        form.addRow("Bandwidth limit:", self.bandwidth)
        form.addRow("Default chunk size:", self.chunk)
        form.addRow("Retry limit:", self.retries)
        form.addRow("Cancel uploads paused for:", self.auto_cancel)
        form.addRow("", self.keep_uploading)
        form.addRow("", self.notifications)
        for key, (widget, _get, _set) in self._fields.items():
            widget.setObjectName(f"setting-{key}")
            signal = widget.toggled if isinstance(widget, QCheckBox) else widget.valueChanged  # type: ignore[attr-defined]
            signal.connect(lambda *_args, key=key: self._changed(key))
        self.message = QLabel("Changes apply at once.")
        self.message.setObjectName("settings-message")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setEnabled(False)  # until the settings arrive

    def refresh(self) -> None:
        """Load the settings from the worker."""
        self._call(lambda api: api.settings(), self._loaded, self._show_error)

    def _loaded(self, answer: dict[str, Any]) -> None:
        self.settings = dict(answer.get("settings") or {})
        help_texts = answer.get("help") or {}
        self._loading = True
        try:
            for key, (widget, _get, set_value) in self._fields.items():
                if key in self.settings:
                    set_value(self.settings[key])
                if key in help_texts:
                    widget.setToolTip(str(help_texts[key]).capitalize())
        finally:
            self._loading = False
        self.setEnabled(True)

    def _changed(self, key: str) -> None:
        if self._loading:
            return
        _widget, get_value, _set = self._fields[key]
        self._pending[key] = get_value()
        self._timer.start()

    def apply_now(self) -> None:
        """Send the pending changes to the worker (normally a moment after the last edit)."""
        self._timer.stop()
        changes, self._pending = self._pending, {}
        changes = {k: v for k, v in changes.items() if self.settings.get(k) != v}
        if not changes:
            return
        self.message.setText("Applying…")
        self._call(lambda api: api.update_settings(**changes), self._applied, self._refused)

    def _applied(self, answer: dict[str, Any]) -> None:
        self.settings = dict(answer.get("settings") or {})
        self.message.setText("<span style='color:#23a559'>✔</span> Applied.")
        self.applied.emit(self.settings)

    def _refused(self, error: BaseException) -> None:
        self._show_error(error)
        # Show the worker's values again, so the form never claims a setting it does not have.
        self.refresh()

    def _show_error(self, error: BaseException) -> None:
        title = getattr(error, "title", "Could not change the settings")
        message = getattr(error, "message", "See the log for details.")
        self.message.setText(
            f"<span style='color:#e5484d'>✖</span> <b>{html.escape(title)}</b><br>"
            f"{html.escape(message)}"
        )

    def done(self, result: int) -> None:
        # Close, Escape and the window's X all end here: send what is still waiting.
        if self._timer.isActive():
            self.apply_now()
        super().done(result)
