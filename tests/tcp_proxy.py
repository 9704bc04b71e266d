"""A small TCP proxy on loopback, to cut connections where a test needs them cut.

It forwards bytes both ways; ``cut_all`` resets every open connection, ``go_down``
also refuses new ones until ``come_back`` (a database outage, say), and
``cut_when_server_sends`` drops a connection at the moment the server sends
bytes containing a marker (say, the ack of a committed message), so the client
never receives them.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from .support import free_port


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._server_marker: bytes | None = None
        self.cuts = 0
        self.refusing = False
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if from_server and self._server_marker and self._server_marker in data:
                self._server_marker = None
                self.cuts += 1
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        _reset(source)
        _reset(sink)

    def cut_when_server_sends(self, marker: bytes) -> None:
        """Reset the connection that next carries ``marker`` from the server, unsent."""
        self._server_marker = marker

    def cut_all(self) -> None:
        """Reset every open connection abruptly (no close handshake)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)
        self.cuts += len(pairs)

    def go_down(self) -> None:
        """Act as if the server behind went away: cut every connection, refuse new ones."""
        self.refusing = True
        self.cut_all()

    def come_back(self) -> None:
        self.refusing = False

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut_all()


def _reset(sock: socket.socket) -> None:
    """Drop a connection with no WebSocket or Engine.IO goodbye, as when a network path dies.

    ``shutdown`` first: a plain ``close`` would wait for the other pump thread's
    blocked ``recv`` to return before the peer heard anything. SO_LINGER 0 then
    turns the close into a reset.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
