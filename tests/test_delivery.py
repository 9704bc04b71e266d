"""Nothing lost: delivery across cut connections, lost acks, a locked database and crashes.

These tests run real server processes and real clients (tests/protocol_client.py,
the browser's protocol in Python). python-socketio has no connection state
recovery; every recovery here comes from the database and the seq/change cursors.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .protocol_client import ProtocolClient
from .support import ApiUser, ServerProcess, wait_until
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.server


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, which it may crash, lock or restart."""
    process = ServerProcess(tmp_path, env={"SQLITE_BUSY_TIMEOUT_MS": "300"})
    process.migrate()
    process.start()
    yield process
    process.stop()


def _members(base_url: str, count: int) -> tuple[list[ApiUser], str]:
    users = [ApiUser(base_url).register(f"Member {i}") for i in range(count)]
    room = users[0].create_room("delivery", member_ids=[u.id for u in users[1:]])
    return users, room["id"]


def _stored(user: ApiUser, room_id: str) -> list[dict]:
    messages, after = [], 0
    while page := user.history(room_id, after=after, limit=200):
        messages += page
        after = page[-1]["seq"]
    return messages


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_cut_connection_catches_up_all_missed_messages_in_order_once(
    server: ServerProcess, transport: str
) -> None:
    proxy = TcpProxy(server.port)
    users, room_id = _members(server.base_url, 2)
    sender, reader_user = users
    reader = ProtocolClient(proxy.base_url, reader_user.http.cookies, transport)
    reader.track(room_id)
    reader.connect()
    try:
        wait_until(reader.synced.is_set)
        proxy.cut_all()
        sent = [sender.post(room_id, f"missed {n}").json() for n in range(100)]
        try:
            wait_until(lambda: len(reader.messages(room_id)) == 100, timeout=20)
        except AssertionError:
            print(
                "DEBUG",
                len(reader.messages(room_id)),
                reader.connects,
                reader.sio.connected,
                reader.cursors,
            )
            raise
        assert reader.connects >= 2, "the reader reconnected"
        assert [m["id"] for m in reader.messages(room_id)] == [m["id"] for m in sent]
        assert reader.messages(room_id) == _stored(sender, room_id)
        applied = reader.applications[room_id]
        assert len(applied) == len(set(applied)) == 100, "each message shown once"
    finally:
        reader.close()
        proxy.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_ack_lost_after_commit_retry_gets_the_same_message(
    server: ServerProcess, transport: str
) -> None:
    proxy = TcpProxy(server.port)
    users, room_id = _members(server.base_url, 1)
    (owner,) = users
    client = ProtocolClient(proxy.base_url, owner.http.cookies, transport, ack_timeout=2)
    client.track(room_id)
    client.connect()
    try:
        wait_until(client.synced.is_set)
        body = f"ack-lost-{uuid.uuid4().hex}"
        # The server commits, then its ack (which carries the body) never reaches the client.
        proxy.cut_when_server_sends(b'"ok":true')
        message = client.send(room_id, body)
        assert proxy.cuts >= 1, "the connection was cut before the ack arrived"
        stored = [m for m in _stored(owner, room_id) if m["body"] == body]
        assert len(stored) == 1, "one row, however many attempts"
        assert stored[0]["id"] == message["id"]
        assert stored[0]["client_id"] == message["client_id"]
    finally:
        client.close()
        proxy.close()


def test_database_locked_past_busy_timeout_fails_cleanly_then_retry_succeeds(
    own_server: ServerProcess,
) -> None:
    users, room_id = _members(own_server.base_url, 2)
    owner, watcher = users
    owner_socket, watcher_socket = owner.socket("websocket"), watcher.socket("websocket")
    database = own_server.database_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(database, timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        refused = owner_socket.send(room_id, "while locked", client_id="locked-1")
        assert refused["ok"] is False
        assert refused["error"] == "unavailable"
        assert "try again" in refused["message"]
        http_refused = owner.post(room_id, "while locked", client_id="locked-2")
        assert http_refused.status_code == 503
        assert http_refused.json()["error"] == "unavailable"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    retried = owner_socket.send(room_id, "while locked", client_id="locked-1")
    assert retried["ok"] is True
    assert retried["message"]["seq"] == 1, "the refused attempt took no seq"
    pushed = watcher_socket.wait_for("message", lambda m: m["client_id"] == "locked-1")
    assert pushed == retried["message"]
    assert [m["body"] for m in watcher_socket.received()] == ["while locked"], "nothing else pushed"
    assert [m["client_id"] for m in _stored(owner, room_id)] == ["locked-1"]


@pytest.mark.faults
def test_two_crashes_lose_no_acknowledged_message_and_every_client_shows_the_stored_list(
    own_server: ServerProcess,
) -> None:
    per_client = 250
    users, room_id = _members(own_server.base_url, 4)
    clients = []
    for i, user in enumerate(users):
        client = ProtocolClient(
            own_server.base_url, user.http.cookies, ["websocket", "polling"][i % 2], ack_timeout=2
        )
        client.track(room_id)
        clients.append(client.connect())
    acked: list[list[dict]] = [[] for _ in clients]
    failures: list[BaseException] = []
    progress = threading.Condition()

    def run_sender(index: int) -> None:
        try:
            for n in range(per_client):
                message = clients[index].send(room_id, f"client {index} message {n}", deadline=120)
                with progress:
                    acked[index].append(message)
                    progress.notify_all()
        except BaseException as error:  # reported below; a thread must not die silently
            failures.append(error)
            with progress:
                progress.notify_all()

    def total_acked() -> int:
        return sum(len(a) for a in acked)

    senders = [threading.Thread(target=run_sender, args=(i,)) for i in range(len(clients))]
    for thread in senders:
        thread.start()
    try:
        for threshold in (250, 600):
            with progress:
                assert progress.wait_for(lambda t=threshold: total_acked() >= t or failures, 120)
            assert not failures, failures
            own_server.crash()
            own_server.start()
        for thread in senders:
            thread.join(timeout=180)
        assert not failures, failures
        assert total_acked() == 4 * per_client

        stored = _stored(users[0], room_id)
        assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1)), "seqs are 1..N"
        client_ids = [m["client_id"] for m in stored]
        assert len(client_ids) == len(set(client_ids)), "no message stored twice"
        acked_ids = {m["client_id"] for batch in acked for m in batch}
        assert acked_ids == set(client_ids), "every acknowledged message is stored, nothing else"
        assert len(stored) == 4 * per_client
        for client in clients:
            wait_until(lambda c=client: len(c.messages(room_id)) == len(stored), timeout=30)
            assert client.messages(room_id) == stored
            applied = client.applications[room_id]
            assert len(applied) == len(set(applied)), "no message shown twice"
            assert client.connects >= 3, "each client reconnected after both crashes"
    finally:
        for client in clients:
            client.close()
