"""The rows of the target form that depend on the protocol, built from what the transport says
(core.transports.form): the window itself knows no protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget
from upqueue.core.transports.form import TargetForm, form_for


class ProtocolFields:
    """Applies a protocol's form to the dialog's rows and reads its options back.

    Args:
        form: the dialog's form layout (option rows go in before ``before``).
        url, auth, username, secret, chunk: the dialog's widgets of those rows.
        auth_labels: auth kind -> what the authentication list shows.
        on_edit: called when an option is edited.
    """

    def __init__(
        self,
        form: QFormLayout,
        *,
        url: QLineEdit,
        auth: QComboBox,
        username: QLineEdit,
        secret: QLineEdit,
        chunk: QWidget,
        before: QWidget,
        auth_labels: Mapping[str, str],
        on_edit: Callable[[], None],
    ) -> None:
        self._form, self._url, self._auth = form, url, auth
        self._username, self._secret, self._chunk, self._before = username, secret, chunk, before
        self._auth_labels = dict(auth_labels)
        self._on_edit = on_edit
        self.spec = TargetForm()
        self.edits: dict[str, QLineEdit | QComboBox] = {}

    def apply(self, protocol: str, options: Mapping[str, Any] | None) -> None:
        """Show ``protocol``'s rows, with ``options`` (a target's stored ones) filled in."""
        self.spec = spec = form_for(protocol)
        self._url.setPlaceholderText(spec.url_placeholder)
        self._url.setToolTip(spec.url_tooltip)
        current = self._auth.currentData()
        self._auth.blockSignals(True)
        self._auth.clear()
        for kind in spec.auth_kinds:
            self._auth.addItem(self._auth_labels.get(kind, kind), kind)
        self._auth.setCurrentIndex(max(0, self._auth.findData(current)))
        self._auth.blockSignals(False)
        self._form.setRowVisible(self._auth, len(spec.auth_kinds) > 1)
        self._form.setRowVisible(self._chunk, spec.chunk_size)
        for old in self.edits.values():
            self._form.removeRow(old)
        self.edits = {}
        row = self._row_of(self._before)
        for field in spec.options:
            value = str((options or {}).get(field.name, "") or "")
            edit: QLineEdit | QComboBox
            if field.choices:
                edit = QComboBox()
                for choice in field.choices:
                    edit.addItem(choice, choice)
                edit.setCurrentIndex(max(0, edit.findData(value or field.choices[0])))
                edit.currentIndexChanged.connect(self._on_edit)
            else:
                edit = QLineEdit(value)
                edit.setPlaceholderText(field.placeholder)
                edit.textChanged.connect(self._on_edit)
            edit.setObjectName(f"target-option-{field.name}")
            edit.setToolTip(field.tooltip)
            self._form.insertRow(row, field.label, edit)
            row += 1
            self.edits[field.name] = edit

    def labels(self, kind: str) -> tuple[str, str]:
        """What the username and secret rows are called for auth ``kind``."""
        if kind == "basic":
            return self.spec.username_label, self.spec.password_label
        return "Username:", {"bearer": "Token:", "header": "Header value:"}.get(kind, "Secret:")

    def options(self, stored: Mapping[str, Any] | None) -> dict[str, Any]:
        """``stored`` options with the form's values over them (an emptied field drops one)."""
        merged = dict(stored or {})
        for name, edit in self.edits.items():
            value = edit.currentData() if isinstance(edit, QComboBox) else edit.text().strip()
            if value:
                merged[name] = value
            else:
                merged.pop(name, None)
        return merged

    def set_label(self, field: QWidget, text: str) -> None:
        label = self._form.labelForField(field)
        if isinstance(label, QLabel):
            label.setText(text)

    def _row_of(self, widget: QWidget) -> int:
        # PySide6 answers (row, role); its stubs say object.
        position: tuple[int, object] = self._form.getWidgetPosition(widget)  # type: ignore[assignment]
        row = position[0]
        return row if row >= 0 else self._form.rowCount()
