"""One window per data directory: a second launch hands over to the first and exits.

The first window listens on a local socket named after the data directory; a later launch
connects to it, asks it to come forward, and quits. A socket left by a crashed window is
removed when nothing answers on it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

_CONNECT_MS = 500
_RAISE = b"raise\n"


def server_name(data_dir: Path) -> str:
    scope = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
    return f"upqueue-window-{scope}"


def hand_over(name: str) -> bool:
    """Ask a running window to come forward; True when one answered (then this launch ends)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(_CONNECT_MS):
        return False
    socket.write(_RAISE)
    socket.waitForBytesWritten(_CONNECT_MS)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """Listens for later launches; calls ``on_raise`` for each.

    Args:
        name: the socket's name (:func:`server_name`).
        on_raise: brings the window forward.
    """

    def __init__(self, name: str, on_raise: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self._on_raise = on_raise
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(name):
            # A socket file left by a window that crashed: nothing answers there (hand_over
            # said so), so it can go.
            QLocalServer.removeServer(name)
            if not self.server.listen(name):
                log.warning("cannot listen for later launches: %s", self.server.errorString())
        self.server.newConnection.connect(self._connected)

    def _connected(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(_RAISE.strip()):
            log.info("another launch asked this window to come forward")
            self._on_raise()

    def close(self) -> None:
        self.server.close()
