"""The base of the main window's mixins (gui.window_feed, gui.window_closing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow

    # To mypy a part of the main window is one (its Qt methods); what the window builds it
    # reads as Any, as window_wiring does: naming MainWindow here would be an import circle.
    class WindowPart(QMainWindow):
        def __getattr__(self, name: str) -> Any: ...
else:
    WindowPart = object
