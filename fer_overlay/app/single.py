"""One app per user and settings file: a second start brings the running one to the front.

Two instances stacked their overlays on each other and recorded two sessions. The first app listens on
a local socket (``QLocalServer``: a Unix domain socket or a Windows named pipe, never a network
socket) named after the user and the settings file; a later start connects to it, asks it to come to
the front, says so in one line and exits 0. A socket left by a crashed app is removed and taken over.
"""

from __future__ import annotations

import getpass
import hashlib

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

WAIT_MS = 1000


def instance_name(settings_path: str) -> str:
    """The socket name of the app of this user with these settings ("" = the user's own)."""
    key = hashlib.sha1(f"{getpass.getuser()}\0{settings_path}".encode()).hexdigest()[:12]
    return f"fer-overlay-{key}"


def ask_running(name: str) -> bool:
    """Whether an app already listens on ``name``; if so it has been asked to come to the front."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(WAIT_MS):
        return False
    socket.write(b"front\n")
    socket.flush()
    socket.waitForBytesWritten(WAIT_MS)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """The running app's end: ``activated`` is emitted whenever a second start asks for the front."""

    activated = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(name):  # a socket file of a crashed app: nobody answers on it
            QLocalServer.removeServer(name)
            self.server.listen(name)
        self.server.newConnection.connect(self._on_connection)

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            # The second start writes one short line at once and waits for nothing: read it here.
            if socket.bytesAvailable() or socket.waitForReadyRead(WAIT_MS):
                asked = b"front" in bytes(socket.readAll())
            else:
                asked = False
            socket.abort()
            socket.deleteLater()
            if asked:
                self.activated.emit()

    def close(self) -> None:
        self.server.close()
