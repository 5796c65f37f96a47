"""The questions the Targets dialog asks (remove a target, and its uploads? discard a form?)
and the line where it says how a test or a save went.

Each returns a word, so that tests can answer in its place (the dialog's ``ask_remove`` and
``ask_unsaved`` seams).
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


class ResultLabel(QLabel):
    """A result under a form: green when it worked, red when not, plain otherwise."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMinimumHeight(48)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

    def say(self, text: str, ok: bool | None, rich: bool = False) -> None:
        if not rich:
            text = html.escape(text)
        if ok is None:
            self.setText(text)
            return
        colour = "#23a559" if ok else "#e5484d"
        self.setText(
            f"<table><tr><td valign='top'><span style='color:{colour};font-size:large'>"
            f"{'✔' if ok else '✖'}</span>&nbsp;</td><td>{text}</td></tr></table>"
        )
        self.setProperty("result", "done" if ok else "failed")

    def plain_text(self) -> str:
        document = QTextDocument()
        document.setHtml(self.text())
        return document.toPlainText().strip()


def ask_remove(parent: QWidget, name: str, answer: Callable[[str], None]) -> None:
    """Ask, without a nested event loop; ``answer`` gets "keep" (remove the target, keep its
    finished uploads), "remove" (with them) or "cancel"."""
    box = QMessageBox(parent)
    box.setObjectName("remove-target-box")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Remove target")
    box.setText(f"Remove the target “{name}”?")
    box.setInformativeText(
        "Its finished uploads can stay in the list and the history, or go with it. "
        "The files already on the server stay there either way."
    )
    keep = box.addButton("Remove, Keep Uploads", QMessageBox.ButtonRole.AcceptRole)
    remove = box.addButton("Remove with Uploads", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished(_result: int) -> None:
        clicked = box.clickedButton()
        answer("keep" if clicked is keep else "remove" if clicked is remove else "cancel")

    box.finished.connect(finished)
    box.open()


def ask_unsaved(parent: QWidget, name: str, answer: Callable[[str], None]) -> None:
    """Ask, without a nested event loop; ``answer`` gets "save", "discard" or "cancel"."""
    box = QMessageBox(parent)
    box.setObjectName("unsaved-target-box")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Unsaved target")
    box.setText(f"Save the target “{name}” before closing?" if name else "Save the target?")
    box.setInformativeText("What you typed is lost otherwise.")
    save = box.addButton(QMessageBox.StandardButton.Save)
    discard = box.addButton(QMessageBox.StandardButton.Discard)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished(_result: int) -> None:
        clicked = box.clickedButton()
        answer("save" if clicked is save else "discard" if clicked is discard else "cancel")

    box.finished.connect(finished)
    box.open()
