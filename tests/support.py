"""Clients that talk to a real server the way the browser does: HTTP with a session
cookie and CSRF token, and python-socketio over either transport.

Written once here and reused by every test that needs a real connection.
"""

from __future__ import annotations

import copy
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from engineio.payload import Payload

# The server may batch many packets into one long-polling response (a burst of
# messages and acks); python-engineio's client refuses more than 16 by default.
Payload.max_decode_packets = 1024

PROJECT_DIR = Path(__file__).resolve().parent.parent
TRANSPORTS = ["websocket", "polling"]
PASSWORD = "a long enough password"
STRICT = os.environ.get("CI", "").lower() == "true" or bool(os.environ.get("CHAT_TESTS_STRICT"))

_counter = itertools.count()


def require(condition: bool, reason: str) -> None:
    """Skip when a local service is missing, except in CI, where that is a failure."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"required for CI but missing: {reason}")
    pytest.skip(reason)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}@example.org"


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it is truthy or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """The real server (gunicorn + gevent, as ``make run`` starts it) on its own database."""

    def __init__(
        self, workdir: Path, env: dict[str, str] | None = None, database_url: str | None = None
    ) -> None:
        """``database_url`` points it at PostgreSQL (tests/postgres_support.py); SQLite otherwise.

        Several instances of one deployment share the database, ``REDIS_URL`` (in
        ``env``) and the secret key below, so a session cookie works on all of them.
        """
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{workdir / 'chat.sqlite3'}"
        self.env = {
            **os.environ,
            "FLASK_APP": "chat:create_app()",
            "DATABASE_URL": self.database_url,
            "INSTANCE_PATH": str(workdir),
            "SECRET_KEY": "test-server-secret",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "8",
            "ACCESS_LOG": "",
            # The suite makes many users and messages from one address; the tests
            # about limits start servers of their own with the limits on.
            "RATELIMIT_ENABLED": "false",
            # /_test/stats for the abuse tests (create_app refuses it in production).
            "CHAT_TEST_ENDPOINTS": "true",
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=PROJECT_DIR,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so that a crash test can kill master and worker at once.
            start_new_session=True,
        )
        wait_until(self._answers, timeout=20, interval=0.1)
        return self

    def _answers(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError(f"server exited early; log:\n{self.log_path.read_text()[-3000:]}")
        try:
            return requests.get(self.base_url + "/api/csrf", timeout=1).ok
        except requests.RequestException:
            return False

    def crash(self) -> None:
        """SIGKILL the whole server (master and worker): no shutdown code runs."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SocketClient:
    """A python-socketio client that records every event it receives, in order."""

    def __init__(self, user: ApiUser, transport: str) -> None:
        self.user = user
        self.transport = transport
        self.events: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        # Its own HTTP session (requests sessions are not thread-safe), with the user's cookies.
        http = requests.Session()
        http.cookies.update(user.http.cookies)
        self.sio = socketio.Client(http_session=http, reconnection=False)
        self.sio.on("*", self._record)

    def _record(self, event: str, data: Any = None) -> None:
        with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    def connect(self, **kwargs: Any) -> SocketClient:
        self.sio.connect(self.user.base_url, transports=[self.transport], wait_timeout=10, **kwargs)
        return self

    def disconnect(self) -> None:
        if not self.sio.connected:
            return
        if self.sio.transport() == "polling":
            # python-engineio's threaded client can lose its own close over long-polling:
            # disconnect() queues the CLOSE packet and marks itself "disconnecting" at
            # once, and a write loop that checks that state before taking the packet
            # stops without sending it (the server then keeps the socket until the ping
            # timeout, and disconnect() waits for the pending poll). So the close goes to
            # the server first, as a real client's would: an Engine.IO CLOSE packet ("1").
            requests.post(
                f"{self.user.base_url}/socket.io/",
                params={"EIO": "4", "transport": "polling", "sid": self.sio.eio.sid},
                data="1",
                headers={"Content-Type": "text/plain;charset=UTF-8"},
                timeout=5,
            )
        self.sio.disconnect()

    def emit_ack(self, event: str, data: Any, timeout: float = 10) -> Any:
        return self.sio.call(event, data, timeout=timeout)

    def send(self, room_id: str, body: str, client_id: str | None = None) -> dict[str, Any]:
        payload = {"room_id": room_id, "body": body, "client_id": client_id or uuid.uuid4().hex}
        return self.emit_ack("send_message", payload)

    def received(self, event: str = "message") -> list[Any]:
        with self._changed:
            return [data for name, data in self.events if name == event]

    def wait_for(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 5
    ) -> Any:
        """The first ``event`` whose data satisfies ``predicate``; fails at the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for name, data in self.events:
                    if name == event and predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {event!r} event matched within {timeout}s")
                self._changed.wait(remaining)


class ApiUser:
    """One person using the JSON API with their own cookie jar and CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.profile: dict[str, Any] = {}
        self.sockets: list[SocketClient] = []
        self.refresh_csrf()

    @property
    def id(self) -> str:
        return self.profile["id"]

    def at(self, base_url: str) -> ApiUser:
        """The same person (cookies, CSRF token, sockets) talking to another instance.

        Cookies belong to the host, not the port, so one session works on every
        instance of a deployment that shares the secret key.
        """
        twin = copy.copy(self)
        twin.base_url = base_url
        return twin

    def refresh_csrf(self) -> None:
        token = self.http.get(self.base_url + "/api/csrf").json()["csrf_token"]
        self.http.headers["X-CSRFToken"] = token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.http.request(method, self.base_url + path, **kwargs)

    def register(self, display_name: str = "Tester", email: str | None = None) -> ApiUser:
        response = self.request(
            "POST",
            "/api/auth/register",
            json={
                "email": email or unique_email(),
                "password": PASSWORD,
                "display_name": display_name,
            },
        )
        assert response.status_code == 201, response.text
        self.profile = response.json()
        return self

    def create_room(self, title: str = "Room", member_ids: list[str] | None = None) -> dict:
        response = self.request(
            "POST", "/api/rooms", json={"title": title, "member_ids": member_ids or []}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def join(self, room_id: str) -> dict:
        response = self.request("POST", f"/api/rooms/{room_id}/join")
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, room_id: str, body: str, client_id: str | None = None) -> requests.Response:
        payload: dict[str, Any] = {"body": body}
        if client_id is not None:
            payload["client_id"] = client_id
        return self.request("POST", f"/api/rooms/{room_id}/messages", json=payload)

    def history(self, room_id: str, **params: Any) -> list[dict]:
        response = self.request("GET", f"/api/rooms/{room_id}/messages", params=params)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def socket(self, transport: str = "websocket", **kwargs: Any) -> SocketClient:
        client = SocketClient(self, transport).connect(**kwargs)
        self.sockets.append(client)
        return client

    def close(self) -> None:
        for client in self.sockets:
            client.disconnect()
        self.http.close()
