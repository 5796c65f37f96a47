"""Starting the window: the QApplication, its name, icon and palette, logging, and the main window."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from upqueue.core import paths
from upqueue.gui import icons

WINDOW_LOG = "window.log"


def _setup_logging() -> None:
    """Log to a file in the data directory; tracebacks go there, never into a dialog."""
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    handler = logging.handlers.RotatingFileHandler(
        paths.data_dir() / WINDOW_LOG, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication with upqueue's name and icon (reused when one exists, as in tests)."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        QApplication.setApplicationName("upqueue")
        QApplication.setApplicationDisplayName("upqueue")
        QApplication.setOrganizationName("upqueue")
        QApplication.setDesktopFileName("upqueue")
        app = QApplication(list(argv if argv is not None else sys.argv))
    app.setWindowIcon(icons.app_icon())
    # Closing the window may leave it in the tray; Quit ends the application explicitly.
    app.setQuitOnLastWindowClosed(False)
    return app


def run(argv: Sequence[str] | None = None) -> int:
    """Open the window (starting the worker if none runs) and run until Quit.

    Returns:
        The exit code.
    """
    _setup_logging()
    app = make_application(argv)
    from upqueue.gui.single_instance import SingleInstance, hand_over, server_name

    name = server_name(paths.data_dir())
    if hand_over(name):
        print("upqueue is open already; its window was brought forward.", file=sys.stderr)
        return 0
    from upqueue.gui.main_window import MainWindow

    window = MainWindow()
    single = SingleInstance(name, window.show_window, app)
    app.aboutToQuit.connect(single.close)

    # The window redraws its tinted icons on a palette change (MainWindow.changeEvent); Qt
    # changes the palette when the desktop switches between light and dark.
    window.show()
    if window.windowState() & Qt.WindowState.WindowMinimized:
        window.showNormal()
    return app.exec()
