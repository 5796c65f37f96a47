"""Adding or editing one watched folder: the folder, its target, and what to pick up."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

Call = Callable[..., None]
AFTER_UPLOAD = [
    ("keep", "Leave the file where it is"),
    ("delete", "Delete the file"),
    ("move", "Move it to…"),
]


def split_globs(text: str) -> list[str]:
    """ "*.tif, *.shp" -> ["*.tif", "*.shp"]."""
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class WatchDialog(QDialog):
    """The form for a watched folder; saves through the API and says what the worker said.

    Args:
        call: ``call(fn, on_done, on_error)`` runs ``fn(api)`` off the GUI thread.
        targets: the targets to choose from.
        watch: the watch to edit, or None to add one.

    Signals:
        saved(dict): the watch as the worker stored it.
    """

    saved = Signal(dict)

    def __init__(
        self,
        call: Call,
        targets: list[dict[str, Any]],
        watch: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("watch-dialog")
        self.setWindowTitle("Edit Watched Folder" if watch else "Watch a Folder")
        self._call = call
        self.watch = watch
        self.choose_folder: Callable[[], str] = self._choose_folder
        data = watch or {}
        self.path = QLineEdit(data.get("path", ""))
        self.path.setPlaceholderText("the folder to watch")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(self.path))
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        self.target = QComboBox()
        for target in targets:
            self.target.addItem(target["name"], target["id"])
        index = self.target.findData(data.get("target_id"))
        self.target.setCurrentIndex(max(0, index))
        self.recursive = QCheckBox("Include subfolders")
        self.recursive.setChecked(bool(data.get("recursive")))
        self.include = QLineEdit(", ".join(data.get("include") or []))
        self.include.setPlaceholderText("all files (or e.g. *.tif, *.shp)")
        self.exclude = QLineEdit(", ".join(data.get("exclude") or []))
        self.exclude.setPlaceholderText("hidden and temporary files are always skipped")
        self.settle = QDoubleSpinBox()
        self.settle.setRange(0.5, 3600.0)
        self.settle.setSuffix(" s")
        self.settle.setValue(float(data.get("settle_seconds") or 3.0))
        self.settle.setToolTip("How long a file must stay unchanged before it is uploaded")
        self.after = QComboBox()
        for key, label in AFTER_UPLOAD:
            self.after.addItem(label, key)
        self.after.setCurrentIndex(max(0, self.after.findData(data.get("after_upload", "keep"))))
        self.move_to = QLineEdit(data.get("move_to") or "")
        self.move_to.setPlaceholderText("folder to move uploaded files to")
        self.after.currentIndexChanged.connect(self._after_changed)
        self.polling = QCheckBox("Poll instead of file-system events (network drives)")
        self.polling.setChecked(bool(data.get("polling")))
        form = QFormLayout()
        form.addRow("Folder:", path_row)
        form.addRow("Upload to:", self.target)
        form.addRow("", self.recursive)
        form.addRow("Only files matching:", self.include)
        form.addRow("Skip files matching:", self.exclude)
        form.addRow("Wait until unchanged for:", self.settle)
        form.addRow("After upload:", self.after)
        form.addRow("Move to:", self.move_to)
        form.addRow("", self.polling)
        self.form = form
        self.message = QLabel()
        self.message.setObjectName("watch-message")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self._after_changed()

    def _after_changed(self) -> None:
        self.form.setRowVisible(self.move_to, self.after.currentData() == "move")

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "path": self.path.text().strip(),
            "target": self.target.currentData(),
            "recursive": self.recursive.isChecked(),
            "include": split_globs(self.include.text()),
            "exclude": split_globs(self.exclude.text()),
            "settle_seconds": self.settle.value(),
            "after_upload": self.after.currentData(),
            "polling": self.polling.isChecked(),
        }
        if fields["after_upload"] == "move":
            fields["move_to"] = self.move_to.text().strip()
        return fields

    def save(self) -> None:
        fields = self.fields()
        if not fields["path"] or fields["target"] is None:
            self._error("A watched folder needs a folder and a target.")
            return
        watch = self.watch
        if watch is None:
            self._call(lambda api: api.add_watch(**fields), self._saved, self._failed)
        else:
            self._call(
                lambda api: api.update_watch(watch["id"], **fields), self._saved, self._failed
            )

    def _saved(self, watch: dict[str, Any]) -> None:
        self.saved.emit(watch)
        self.accept()

    def _failed(self, error: BaseException) -> None:
        title = getattr(error, "title", "Could not save")
        message = getattr(error, "message", str(error))
        self._error(f"<b>{html.escape(title)}</b><br>{html.escape(message)}", rich=True)

    def _error(self, text: str, rich: bool = False) -> None:
        self.message.setText(
            f"<span style='color:#e5484d'>✖</span> {text if rich else html.escape(text)}"
        )

    def _browse(self, field: QLineEdit) -> None:
        folder = self.choose_folder()
        if folder:
            field.setText(folder)

    def _choose_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Folder to watch", self.path.text())
