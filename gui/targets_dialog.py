"""The Targets dialog: the servers files go to — add, edit, remove, and test the connection.

Secrets (password, token, header value) go to the worker, which keeps them in the keyring; the
dialog never shows a stored one, only whether one exists. Saving, removing, testing and closing
are in gui.targets_actions (a mixin of the dialog).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from upqueue.core.header_lines import parse_header_lines
from upqueue.core.models import AuthKind
from upqueue.core.transports import registry
from upqueue.gui import target_prompts
from upqueue.gui.icons import icon
from upqueue.gui.target_prompts import ResultLabel
from upqueue.gui.target_protocol_fields import ProtocolFields
from upqueue.gui.targets_actions import Ask, Call, TargetActions

_MIB = 1 << 20
_AUTH_LABELS = {
    AuthKind.NONE: "None",
    AuthKind.BASIC: "Username and password",
    AuthKind.BEARER: "Bearer token",
    AuthKind.HEADER: "Custom header",
}


def parse_headers(text: str) -> dict[str, str]:
    """The Headers box's lines as a dict (ValueError naming a line that is not "Name: value")."""
    return parse_header_lines(text.splitlines())


class TargetsDialog(TargetActions, QDialog):
    """Lists the targets on the left and edits the chosen one on the right.

    Args:
        call: ``call(fn, on_done, on_error)`` runs ``fn(api)`` off the GUI thread
            (:meth:`MainWindow.call`).
        parent: the window.

    Signals:
        changed(): a target was added, changed or removed.
    """

    changed = Signal()

    def __init__(self, call: Call, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Targets")
        self.setObjectName("targets-dialog")
        self.resize(760, 480)
        self._call = call
        self.targets: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None  # None: a new, unsaved target
        self._dirty = False
        self._close_after_save = False
        self._refreshes = 0  # only the latest refresh's answer is shown
        # Seams for tests: ``ask_x(name, answer)`` calls ``answer(word)``.
        self.ask_remove: Ask = lambda name, answer: target_prompts.ask_remove(self, name, answer)
        self.ask_unsaved: Ask = lambda name, answer: target_prompts.ask_unsaved(self, name, answer)
        self._build()
        self._new()

    # -- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.list = QListWidget()
        self.list.setObjectName("target-list")
        self.list.setMaximumWidth(220)
        self.list.currentItemChanged.connect(self._selected)
        add = QPushButton(icon("add"), "Add")
        add.setObjectName("target-add")
        add.clicked.connect(self._new)
        self.remove_button = QPushButton(icon("remove"), "Remove")
        self.remove_button.setObjectName("target-remove")
        self.remove_button.clicked.connect(self.remove_current)
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_button)
        left.addLayout(buttons)

        self.name = QLineEdit()
        self.name.setPlaceholderText("a short name, e.g. “geo”")
        self.protocol = QComboBox()
        for protocol, title in registry.titles().items():
            self.protocol.addItem(title, protocol)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://uploads.example.org/files/")
        self.auth = QComboBox()
        for kind, label in _AUTH_LABELS.items():
            self.auth.addItem(label, kind.value)
        self.username = QLineEdit()
        self.header_name = QLineEdit()
        self.header_name.setPlaceholderText("e.g. X-Api-Key")
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.chunk = QSpinBox()
        self.chunk.setRange(0, 4096)
        self.chunk.setSuffix(" MiB")
        self.chunk.setSpecialValueText("Default (from Settings)")
        self.headers = QPlainTextEdit()
        self.headers.setPlaceholderText("Extra headers, one “Name: value” a line (not secret)")
        self.headers.setMaximumHeight(70)
        form = QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("Protocol:", self.protocol)
        form.addRow("URL:", self.url)
        form.addRow("Authentication:", self.auth)
        form.addRow("Username:", self.username)
        form.addRow("Header name:", self.header_name)
        form.addRow("Password:", self.secret)
        form.addRow("Chunk size:", self.chunk)
        form.addRow("Headers:", self.headers)
        self.form = form
        # Protocol-dependent rows (URL hint, auth kinds and labels, chunk size, options).
        self.protocol_fields = ProtocolFields(
            form,
            url=self.url,
            auth=self.auth,
            username=self.username,
            secret=self.secret,
            chunk=self.chunk,
            before=self.headers,
            auth_labels={k.value: v for k, v in _AUTH_LABELS.items()},
            on_edit=self._edited,
        )
        for widget in (self.name, self.url, self.username, self.header_name, self.secret):
            widget.textChanged.connect(self._edited)
        self.headers.textChanged.connect(self._edited)
        self.auth.currentIndexChanged.connect(self._auth_changed)
        self.protocol.currentIndexChanged.connect(self._protocol_changed)
        self.chunk.valueChanged.connect(self._edited)

        self.result_label = ResultLabel()
        self.result_label.setObjectName("target-result")
        self.test_button = QPushButton(icon("test"), "Test Connection")
        self.test_button.setObjectName("target-test")
        self.test_button.clicked.connect(self.test_connection)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("target-save")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        actions = QHBoxLayout()
        actions.addWidget(self.test_button)
        actions.addStretch(1)
        actions.addWidget(self.save_button)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.result_label)
        right.addStretch(1)
        right.addLayout(actions)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(body, 1)
        outer.addWidget(close)

    # -- loading --------------------------------------------------------------------------

    def refresh(self, select_id: int | None = None) -> None:
        """Load the targets from the worker."""
        self._refreshes += 1
        asked = self._refreshes
        self._call(
            lambda api: api.targets()["targets"],
            lambda targets: self._loaded(targets, select_id, asked),
            self._failed,
        )

    def _loaded(
        self, targets: list[dict[str, Any]], select_id: int | None, asked: int | None = None
    ) -> None:
        if asked is not None and asked != self._refreshes:
            return  # a later refresh is on its way: this answer may be from before a save
        if select_id is None:  # the target on show as it is now, not as it was when asked
            select_id = (self._current or {}).get("id")
        self.targets = targets
        self.list.blockSignals(True)
        self.list.clear()
        chosen = None
        for target in targets:
            item = QListWidgetItem(icon("targets"), target["name"])
            item.setData(Qt.ItemDataRole.UserRole, target["id"])
            item.setToolTip(target["url"])
            self.list.addItem(item)
            if target["id"] == select_id:
                chosen = item
        chosen_target = next((t for t in targets if t["id"] == select_id), None)
        if chosen is not None and chosen_target == self._current:
            # The target on show, unchanged (a refresh after someone else's change, or a late
            # one): select it quietly, keeping what is typed and the last test's result.
            self.list.setCurrentItem(chosen)
            self.list.blockSignals(False)
            return
        self.list.blockSignals(False)
        if chosen is not None:
            self.list.setCurrentItem(chosen)
        elif self._current is not None:
            self._new()  # the target on show is gone
        # Otherwise a new target is being typed in: leave the form alone.

    def _selected(self, item: QListWidgetItem | None, _previous: Any) -> None:
        if item is None:
            return
        target_id = item.data(Qt.ItemDataRole.UserRole)
        target = next((t for t in self.targets if t["id"] == target_id), None)
        if target is not None:
            self._show(target)

    def _new(self) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentRow(-1)  # no current target: the form is for a new one
        self.list.blockSignals(False)
        self._show(None)
        self.name.setFocus()

    def _show(self, target: dict[str, Any] | None) -> None:
        self._current = target
        data = target or {}
        self.name.setText(data.get("name", ""))
        self.protocol.blockSignals(True)
        self.protocol.setCurrentIndex(
            max(0, self.protocol.findData(data.get("protocol", registry.DEFAULT_PROTOCOL)))
        )
        self.protocol.blockSignals(False)
        self.protocol_fields.apply(self.protocol.currentData(), data.get("options"))
        self.url.setText(data.get("url", ""))
        self.auth.setCurrentIndex(max(0, self.auth.findData(data.get("auth_kind", "none"))))
        self.username.setText(data.get("username") or "")
        self.header_name.setText(data.get("auth_header") or "")
        self.secret.clear()
        self.secret.setPlaceholderText(
            "stored in the keyring — type to replace" if data.get("has_secret") else ""
        )
        self.chunk.setValue(int((data.get("chunk_size") or 0) // _MIB))
        self.headers.setPlainText(
            "\n".join(f"{k}: {v}" for k, v in (data.get("headers") or {}).items())
        )
        self.remove_button.setEnabled(target is not None)
        self.save_button.setText("Save" if target else "Add Target")
        self._auth_changed()
        self._say("", None)
        self._dirty = False

    def _auth_changed(self) -> None:
        kind = self.auth.currentData()
        self._row_visible(self.username, kind == AuthKind.BASIC)
        self._row_visible(self.header_name, kind == AuthKind.HEADER)
        self._row_visible(self.secret, kind != AuthKind.NONE)
        username_label, secret_label = self.protocol_fields.labels(kind)
        self.protocol_fields.set_label(self.username, username_label)
        self.protocol_fields.set_label(self.secret, secret_label)
        self._edited()

    def _protocol_changed(self) -> None:
        self.protocol_fields.apply(
            self.protocol.currentData(), (self._current or {}).get("options")
        )
        self._auth_changed()

    def _row_visible(self, field: QWidget, visible: bool) -> None:
        self.form.setRowVisible(field, visible)

    def _edited(self) -> None:
        self._dirty = True

    # -- reading the form, the result line ------------------------------------------------

    @property
    def option_widgets(self) -> dict[str, QWidget]:
        """The selected protocol's option fields, by option name."""
        return dict(self.protocol_fields.edits)

    def fields(self) -> dict[str, Any]:
        """The form as an API target body (raises ValueError for headers it cannot read)."""
        kind = self.auth.currentData()
        secret = self.secret.text()
        fields: dict[str, Any] = {
            "name": self.name.text().strip(),
            "protocol": self.protocol.currentData(),
            "url": self.url.text().strip(),
            "auth_kind": kind,
            "username": self.username.text().strip() or None if kind == AuthKind.BASIC else None,
            "auth_header": self.header_name.text().strip() or None
            if kind == AuthKind.HEADER
            else None,
            "chunk_size": (self.chunk.value() * _MIB or None)
            if self.protocol_fields.spec.chunk_size
            else None,
            "headers": parse_headers(self.headers.toPlainText()),
            "options": self.protocol_fields.options((self._current or {}).get("options")),
            # None leaves a stored secret as it is; "" clears it (no authentication any more).
            "secret": secret if secret else ("" if kind == AuthKind.NONE else None),
        }
        return fields

    def _say(self, text: str, ok: bool | None, rich: bool = False) -> None:
        self.result_label.say(text, ok, rich)

    def result_text(self) -> str:
        """The result line as plain text (for tests and accessibility)."""
        return self.result_label.plain_text()
