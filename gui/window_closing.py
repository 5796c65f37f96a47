"""How the window closes: into the tray while uploads go on, or quitting, after asking whether
the worker should keep uploading in the background."""

from __future__ import annotations

import logging

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication
from upqueue.core.errors import UpqueueError
from upqueue.gui import window_chrome
from upqueue.gui.window_part import WindowPart

log = logging.getLogger(__name__)


class WindowClosing(WindowPart):
    """The MainWindow's closing and quitting (a mixin of the window: ``closeEvent`` overrides
    QMainWindow's, and tests and tools reach ``window._quitting``/``window._shutdown_gui()``)."""

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._quitting:
            self._shutdown_gui()
            event.accept()
            return
        active = int(self.stats.get("active") or 0)
        keep = bool(self.worker_settings.get("keep_uploading_on_close", True))
        if active and keep and self.tray.available:
            event.ignore()
            self.hide()
            if not self._told_about_tray:
                self._told_about_tray = True
                self.tray.notify(
                    "upqueue keeps uploading",
                    "The uploads go on in the background; the tray icon brings the window back.",
                )
            return
        event.ignore()
        self.quit_app()

    def quit_app(self) -> None:
        """Quit the window; ask whether the worker should keep uploading in the background."""
        active = int(self.stats.get("active") or 0)
        stop_worker = False
        if active:
            answer = self.ask_quit()
            if answer == "cancel":
                return
            stop_worker = answer == "stop"
        elif not self.worker_settings.get("keep_uploading_on_close", True):
            stop_worker = True
        client = self.api
        if stop_worker and client is not None:
            try:
                client.shutdown()
            except UpqueueError as exc:
                log.warning("could not stop the worker: %s", exc)
        self._quitting = True
        self.close()
        QApplication.quit()

    def _shutdown_gui(self) -> None:
        window_chrome.save_layout(self, self.view.horizontalHeader(), self.splitter)
        self.poller.stop()
        self.supervisor.stop()
        self.tray.hide()
        self.dialog_host.close_all()
        self.background.close()

    def _ask_quit(self) -> str:
        return window_chrome.ask_quit(self, int(self.stats.get("active") or 0))
