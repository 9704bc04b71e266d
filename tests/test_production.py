"""The production set-up of one instance: PostgreSQL under gevent, health checks, logs,
a database outage, and a graceful shutdown.

Several instances (Redis, nginx) are in test_multi_instance.py. The rules themselves
run on PostgreSQL too: the test modules marked ``both_databases`` (tests/conftest.py).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
import socketio

from chat import create_app
from chat.extensions import db

from .postgres_support import (
    TempDatabase,
    admin_url,
    require_postgres,
    temp_database,
)
from .protocol_client import ProtocolClient
from .support import ApiUser, ServerProcess, SocketClient, wait_until
from .tcp_proxy import TcpProxy


def test_pool_settings_reach_the_engine() -> None:
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=admin_url().render_as_string(hide_password=False),
        DB_POOL_SIZE=3,
        DB_MAX_OVERFLOW=4,
        DB_POOL_TIMEOUT=7,
        DB_CONNECT_TIMEOUT=2,
    )
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"connect_timeout": 2}
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 4, 7)
        # Not a ping per checkout: pooled connections are checked without a round trip
        # (tests/test_pool_liveness.py).
        assert not pool._pre_ping


def test_test_only_routes_are_refused_in_production() -> None:
    with pytest.raises(RuntimeError, match="TESTING_SLOW_QUERY_ROUTE"):
        create_app(
            "production",
            SECRET_KEY="x" * 32,
            SQLALCHEMY_DATABASE_URI="sqlite://",
            TESTING_SLOW_QUERY_ROUTE=True,
        )
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.test_client().get("/_test/slow-query").status_code == 404


@pytest.mark.server
def test_healthz_of_the_embedded_default(sqlite_server: ServerProcess) -> None:
    response = requests.get(sqlite_server.base_url + "/healthz", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert (body["database"], body["redis"]) == ("ok", "disabled")
    assert response.headers["Cache-Control"] == "no-store"


# ---- one instance on PostgreSQL ---------------------------------------------------------


@pytest.fixture(scope="module")
def pg_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server on PostgreSQL with the slow-query route and JSON logs."""
    require_postgres()
    with temp_database(label="production") as database:
        process = ServerProcess(
            tmp_path_factory.mktemp("production"),
            env={"TESTING_SLOW_QUERY_ROUTE": "true", "LOG_FORMAT": "json", "ACCESS_LOG": "-"},
            database_url=database.url_string,
        )
        process.migrate()
        process.start()
        process.database_name = database.name  # type: ignore[attr-defined]
        yield process
        process.stop()


def _pg_sleep_running(database_name: str) -> bool:
    url = admin_url().set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE %s",
            (database_name, "SELECT pg_sleep%"),
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.server
@pytest.mark.postgres
def test_a_slow_query_does_not_hold_up_other_clients(pg_instance: ServerProcess) -> None:
    """psycopg yields to other greenlets while it waits (wsgi.py patches first)."""
    slow_user, alice, bob = (ApiUser(pg_instance.base_url).register(n) for n in "SAB")
    room = alice.create_room("fast", member_ids=[bob.id])
    alice_socket, bob_socket = alice.socket("websocket"), bob.socket("websocket")
    assert bob_socket.send(room["id"], "warm-up")["ok"]
    alice_socket.wait_for("message", lambda m: m["body"] == "warm-up")

    slow: dict = {}

    def run_slow_query() -> None:
        started = time.monotonic()
        response = slow_user.request("GET", "/_test/slow-query", params={"seconds": 2})
        slow.update(status=response.status_code, took=time.monotonic() - started)

    thread = threading.Thread(target=run_slow_query)
    thread.start()
    try:
        wait_until(lambda: _pg_sleep_running(pg_instance.database_name))  # type: ignore[attr-defined]
        sent_at = time.monotonic()
        ack = bob_socket.send(room["id"], "while the query sleeps")
        alice_socket.wait_for("message", lambda m: m["body"] == "while the query sleeps")
        latency = time.monotonic() - sent_at
        assert ack["ok"], ack
        assert thread.is_alive(), "the slow query was still running"
        assert latency < 0.1, f"delivered in {latency * 1000:.0f} ms"
    finally:
        thread.join(timeout=10)
    assert slow["status"] == 200 and slow["took"] >= 2


@pytest.mark.server
@pytest.mark.postgres
def test_requests_and_socket_events_are_logged_as_json_without_bodies(
    pg_instance: ServerProcess,
) -> None:
    alice = ApiUser(pg_instance.base_url).register("Logger")
    room = alice.create_room("logged")
    sock = alice.socket("websocket")
    secret = f"secret body {uuid.uuid4().hex}"
    ack = sock.send(room["id"], secret)
    assert ack["ok"]
    http = alice.post(room["id"], secret + " over http")
    assert http.status_code == 201
    sock.disconnect()

    def entries() -> list[dict]:
        lines = pg_instance.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def find(**wanted) -> dict | None:
        for entry in entries():
            if all(entry.get(key) == value for key, value in wanted.items()):
                return entry
        return None

    wait_until(
        lambda: (
            find(message="socket_disconnect", sid=sock.sio.sid) or find(message="socket_disconnect")
        )
    )
    connect = find(message="socket_connect", user_id=alice.id)
    assert connect and connect["logger"] == "chat.events" and connect["transport"] == "websocket"
    sent = find(message="message_sent", message_id=ack["message"]["id"])
    assert sent and sent["room_id"] == room["id"] and sent["user_id"] == alice.id
    path = f"/api/rooms/{room['id']}/messages"
    access = wait_until(lambda: find(type="access", path=path, method="POST"))
    assert access["status"] == 201 and access["duration_ms"] >= 0
    polling = [e for e in entries() if e.get("path") == "/socket.io/" and "sid=" in e["query"]]
    assert all("sid=-" in e["query"] for e in polling), "Engine.IO sids stay out of the log"
    assert secret not in pg_instance.log_path.read_text(), "no message body in the log"


@pytest.mark.server
@pytest.mark.postgres
def test_a_database_outage_answers_unavailable_keeps_nothing_half_done_and_recovers(
    tmp_path: Path,
) -> None:
    require_postgres()
    with temp_database(label="outage") as database:
        proxy = TcpProxy(admin_url().port or 5432)
        server = ServerProcess(
            tmp_path,
            env={"DB_CONNECT_TIMEOUT": "2"},
            database_url=database.url_via("127.0.0.1", proxy.port),
        )
        people: list[ApiUser] = []
        try:
            server.migrate()
            server.start()
            owner, watcher = ApiUser(server.base_url), ApiUser(server.base_url)
            people += [owner.register("Owner"), watcher.register("Watcher")]
            room = owner.create_room("outage", member_ids=[watcher.id])
            owner_socket, watcher_socket = owner.socket("websocket"), watcher.socket("polling")
            assert owner_socket.send(room["id"], "before", client_id="before-1")["ok"]

            proxy.go_down()
            refused = owner_socket.send(room["id"], "during", client_id="during-1")
            assert (refused["ok"], refused["error"]) == (False, "unavailable"), refused
            http = owner.post(room["id"], "during", client_id="during-2")
            assert http.status_code == 503
            assert http.json()["error"] == "unavailable" and http.json()["message"]
            health = requests.get(server.base_url + "/healthz", timeout=10)
            assert health.status_code == 503
            assert (health.json()["database"], health.json()["error"]) == (
                "unavailable",
                "unavailable",
            )
            fresh = socketio.Client(reconnection=False, http_session=_cookie_session(watcher))
            reasons: list = []
            fresh.on("connect_error", reasons.append)
            with pytest.raises(socketio.exceptions.ConnectionError):
                fresh.connect(server.base_url, transports=["websocket"], wait_timeout=10)
            assert reasons == [{"message": "unavailable"}]

            proxy.come_back()  # no restart: the pool reconnects (chat/pool_liveness.py)
            retried = owner_socket.send(room["id"], "during", client_id="during-1")
            assert retried["ok"], retried
            assert retried["message"]["seq"] == 2, "the refused attempts took no seq"
            pushed = watcher_socket.wait_for("message", lambda m: m["client_id"] == "during-1")
            assert pushed == retried["message"]
            stored = owner.history(room["id"])
            assert [(m["seq"], m["client_id"]) for m in stored] == [
                (1, "before-1"),
                (2, "during-1"),
            ], "nothing of the refused sends was kept"
            assert requests.get(server.base_url + "/healthz", timeout=10).status_code == 200
            again = SocketClient(watcher, "websocket").connect()
            again.disconnect()
        finally:
            for user in people:
                user.close()
            server.stop()
            proxy.close()


def _cookie_session(user: ApiUser) -> requests.Session:
    session = requests.Session()
    session.cookies.update(user.http.cookies)
    return session


# ---- graceful shutdown ----------------------------------------------------------------------


@pytest.mark.server
def test_sigterm_drops_sockets_at_once_and_clients_reconnect_and_catch_up(tmp_path: Path) -> None:
    """SIGTERM must not wait out the graceful timeout on open WebSockets (gunicorn.conf.py)."""
    server = ServerProcess(tmp_path, env={"GRACEFUL_TIMEOUT": "30"})
    server.migrate()
    server.start()
    clients: list[ProtocolClient] = []
    owner = ApiUser(server.base_url).register("Owner")
    try:
        room = owner.create_room("moving")
        for transport in ("websocket", "polling"):
            client = ProtocolClient(server.base_url, owner.http.cookies, transport)
            client.track(room["id"])
            clients.append(client.connect())
        for client in clients:
            wait_until(client.synced.is_set)
        sent = [owner.post(room["id"], "before").json()]

        signalled = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: not any(c.sio.connected for c in clients), timeout=5)
        server.process.wait(timeout=20)
        assert time.monotonic() - signalled < 10, "well before the 30 s graceful timeout"
        assert "clients reconnect elsewhere" in server.log_path.read_text()

        server.start()  # "elsewhere": the next instance at the balancer's address
        sent.append(owner.post(room["id"], "after").json())
        for client in clients:
            wait_until(lambda c=client: len(c.messages(room["id"])) == 2, timeout=20)
            assert [m["id"] for m in client.messages(room["id"])] == [m["id"] for m in sent]
            assert client.connects >= 2
    finally:
        for client in clients:
            client.close()
        owner.close()
        server.stop()


def test_postgres_support_names_databases_apart() -> None:
    first, second = TempDatabase(), TempDatabase()
    assert first.name != second.name and first.name.startswith("chat_test_")
