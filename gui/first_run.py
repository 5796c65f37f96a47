"""The page the window shows before any target exists: what upqueue needs, and a button for it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from upqueue.gui.icons import app_icon, icon


class FirstRunPage(QWidget):
    """Offers to add the first target instead of an empty table.

    Signals:
        add_target(): the person wants to add a target.
    """

    add_target = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("first-run")
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(96, 96))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("<h2>Welcome to upqueue</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Tell upqueue where your files go: add the address of your upload server "
            "(for example <i>https://uploads.example.org/files/</i>) and how to sign in.<br>"
            "Then drop files or folders onto this window, and they upload in the background, "
            "surviving restarts and flaky networks."
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setFixedWidth(480)
        # A wrapped label in a centred layout gets one line's height unless told its own.
        text.setMinimumHeight(text.heightForWidth(480))
        self.button = QPushButton(icon("add"), "Add a target…")
        self.button.setObjectName("first-run-add")
        self.button.setDefault(True)
        self.button.setMinimumHeight(34)
        self.button.clicked.connect(self.add_target)
        for widget in (logo, title, text):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(12)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
