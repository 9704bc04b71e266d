"""A Python client that follows the browser's delivery protocol (static/js/chat-client.js).

- Sending: every message gets its ``client_id`` before the first attempt and is
  retried with the same id (after a timeout, a transient error or a reconnect)
  until an ack says ``ok``.
- Receiving: each room has a change cursor; a push that skips ahead of it
  triggers a fetch of the gap (``/changes?since=``) before it is applied; every
  (re)connect asks ``sync`` for what changed in all rooms; messages are kept by
  id, so nothing is shown twice; a ``resync`` event (the server missed pushes
  while its Redis subscription was down) asks for the same ``sync`` without a
  reconnect.

Written once here and reused by the delivery and fault tests.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import requests
import socketio

TRANSIENT = {"unavailable", "timeout", "rate_limited", "internal", "disconnected"}


class SendFailed(Exception):
    pass


class ProtocolClient:
    def __init__(
        self,
        base_url: str,
        cookies: requests.cookies.RequestsCookieJar,
        transport: str = "websocket",
        ack_timeout: float = 3.0,
    ) -> None:
        self.base_url = base_url
        self.transport = transport
        self.ack_timeout = ack_timeout
        self.http = requests.Session()
        self.http.cookies.update(cookies)
        self.http.headers["Accept"] = "application/json"
        self.cursors: dict[str, int] = {}
        self.shown: dict[str, dict[int, dict[str, Any]]] = {}
        self.applications: dict[str, list[int]] = {}
        self.connects = 0
        self.synced = threading.Event()
        self._lock = threading.RLock()
        self._connected = threading.Event()
        socket_http = requests.Session()
        socket_http.cookies.update(cookies)
        # Uncompressed long-polling bodies, so that a test's TCP proxy can see what passes
        # (Engine.IO gzips payloads over 1 KiB when the client accepts it).
        socket_http.headers["Accept-Encoding"] = "identity"
        self.sio = socketio.Client(
            http_session=socket_http,
            reconnection=True,
            reconnection_attempts=0,
            reconnection_delay=0.1,
            reconnection_delay_max=0.5,
            randomization_factor=0,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        for event in ("message", "message_updated", "message_deleted"):
            self.sio.on(event, self._on_push)
        self.sio.on("resync", self._on_resync)

    # ---- connection -----------------------------------------------------------

    def connect(self) -> ProtocolClient:
        self.sio.connect(self.base_url, transports=[self.transport], wait_timeout=10)
        return self

    def close(self) -> None:
        self.sio.disconnect()
        self.http.close()

    def track(self, room_id: str, last_change: int = 0) -> None:
        with self._lock:
            self.cursors.setdefault(room_id, last_change)
            self.shown.setdefault(room_id, {})
            self.applications.setdefault(room_id, [])

    def _on_connect(self) -> None:
        self.connects += 1
        self._connected.set()
        self.synced.clear()
        # A call from inside a handler would wait on the thread that reads its answer.
        threading.Thread(target=self._sync_after_connect, daemon=True).start()

    def _on_disconnect(self, *_: Any) -> None:
        self._connected.clear()

    def _on_resync(self, *_: Any) -> None:
        """The server's Redis subscription came back: pushes may be lost; catch up now."""
        threading.Thread(target=self._sync_after_connect, daemon=True).start()

    def _sync_after_connect(self) -> None:
        try:
            self.sync()
        except Exception:  # the next connect syncs again
            return
        self.synced.set()

    # ---- receiving --------------------------------------------------------------

    def _apply(self, message: dict[str, Any]) -> None:
        room_id = message["room_id"]
        if message["change_seq"] <= self.cursors[room_id]:
            return
        self.cursors[room_id] = message["change_seq"]
        self.shown[room_id][message["id"]] = message
        self.applications[room_id].append(message["id"])

    def _on_push(self, message: dict[str, Any]) -> None:
        with self._lock:
            room_id = message["room_id"]
            if room_id not in self.cursors:
                return
            if message["change_seq"] > self.cursors[room_id] + 1:
                try:
                    self.catch_up(room_id)
                except (requests.RequestException, ValueError):
                    return  # the server is gone for now (as chat-client.js): the next sync
                if message["change_seq"] > self.cursors[room_id] + 1:
                    return  # gap still open: the next sync brings both
            self._apply(message)

    def catch_up(self, room_id: str) -> None:
        with self._lock:
            while True:
                response = self.http.get(
                    f"{self.base_url}/api/rooms/{room_id}/changes",
                    params={"since": self.cursors[room_id], "limit": 200},
                    timeout=10,
                )
                response.raise_for_status()
                page = response.json()
                for message in page["messages"]:
                    self._apply(message)
                if not page["has_more"]:
                    return

    def sync(self) -> None:
        with self._lock:
            cursors = dict(self.cursors)
        if not cursors:
            return
        ack = self.sio.call("sync", {"rooms": cursors}, timeout=self.ack_timeout)
        if not ack or not ack.get("ok"):
            raise RuntimeError(f"sync refused: {ack}")
        with self._lock:
            for room_id, result in ack["rooms"].items():
                for message in result["messages"]:
                    self._apply(message)
                if result["has_more"]:
                    self.catch_up(room_id)

    def messages(self, room_id: str) -> list[dict[str, Any]]:
        """What this client shows for the room, in seq order."""
        with self._lock:
            return sorted(self.shown[room_id].values(), key=lambda m: m["seq"])

    # ---- sending ------------------------------------------------------------------

    def send(self, room_id: str, body: str, deadline: float = 60.0) -> dict[str, Any]:
        """Send until acknowledged, with one client_id for every attempt."""
        client_id = uuid.uuid4().hex
        give_up = time.monotonic() + deadline
        last_error: Any = None
        while time.monotonic() < give_up:
            if not self._connected.wait(timeout=max(0.0, give_up - time.monotonic())):
                break
            try:
                ack = self.sio.call(
                    "send_message",
                    {"room_id": room_id, "body": body, "client_id": client_id},
                    timeout=self.ack_timeout,
                )
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError) as e:
                last_error = e
                continue
            except socketio.exceptions.SocketIOError as e:
                last_error = e
                time.sleep(0.05)  # not connected this instant; wait for the reconnect
                continue
            if ack and ack.get("ok"):
                with self._lock:
                    self._on_push(ack["message"])
                return ack["message"]
            last_error = ack
            if not ack or ack.get("error") not in TRANSIENT:
                raise SendFailed(f"refused: {ack}")
            time.sleep(0.05)
        raise SendFailed(f"not acknowledged within {deadline}s: {last_error!r}")
