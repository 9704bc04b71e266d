"""Live delivery over real sockets to a real server (gunicorn + gevent), on both transports.

Absence of a push is proved with a barrier, never a sleep: after the message a
socket must not get, a message it must get is sent; the server emits in order,
so once the second has arrived the first would have arrived before it.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import socketio
import websocket

from .support import TRANSPORTS, ApiUser, ServerProcess

pytestmark = pytest.mark.server


def _barrier(sender: ApiUser, watcher, room_id: str) -> None:
    """Send a message ``watcher`` must receive, and wait until it has."""
    marker = f"barrier-{uuid.uuid4().hex}"
    assert sender.post(room_id, marker).status_code == 201
    watcher.wait_for("message", lambda m: m["body"] == marker)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_members_receive_and_a_non_member_does_not(make_api_user, transport: str) -> None:
    alice, bob, eve = make_api_user("Alice"), make_api_user("Bob"), make_api_user("Eve")
    room = alice.create_room("private", member_ids=[bob.id])
    eves_room = alice.create_room("with eve", member_ids=[eve.id])
    alice_socket, bob_socket = alice.socket(transport), bob.socket(transport)
    alice_other_tab = alice.socket(transport)
    eve_socket = eve.socket(transport)

    ack = alice_socket.send(room["id"], "hello members", client_id="hello-1")
    assert ack["ok"] is True
    stored = alice.history(room["id"])[-1]
    assert ack["message"] == stored

    for receiver in (bob_socket, alice_other_tab):
        pushed = receiver.wait_for("message", lambda m: m["body"] == "hello members")
        assert pushed == stored, "the pushed message is the stored row, id and seq included"

    _barrier(alice, eve_socket, eves_room["id"])
    assert all(m["room_id"] != room["id"] for m in eve_socket.received()), "non-member got it"
    # The sending socket has the message from its ack: it is not pushed to it again.
    _barrier(bob, alice_socket, room["id"])
    assert "hello members" not in [m["body"] for m in alice_socket.received()]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_text_beyond_ascii_is_pushed_and_acked_as_sent(make_api_user, transport: str) -> None:
    """Packets are written by orjson (chat/socket_packets.py), which leaves non-ASCII
    text as UTF-8 where ``json`` escapes it: every client must still read the same text."""
    alice, bob = make_api_user(), make_api_user()
    room = alice.create_room(member_ids=[bob.id])
    alice_socket, bob_socket = alice.socket(transport), bob.socket(transport)
    body = 'Grüße, "quoted" \\ back\u2028slash: 日本語 😀 עברית \x7f end'
    ack = alice_socket.send(room["id"], body)
    assert ack["ok"] is True and ack["message"]["body"] == body
    pushed = bob_socket.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
    assert pushed["body"] == body
    assert alice.history(room["id"])[-1]["body"] == body


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_message_sent_over_http_is_pushed(make_api_user, transport: str) -> None:
    alice, bob = make_api_user(), make_api_user()
    room = alice.create_room(member_ids=[bob.id])
    bob_socket = bob.socket(transport)
    response = alice.post(room["id"], "over http", client_id=uuid.uuid4().hex)
    assert response.status_code == 201
    pushed = bob_socket.wait_for("message", lambda m: m["body"] == "over http")
    assert pushed == response.json()
    assert pushed["id"] and pushed["seq"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_socket_of_a_member_receives(make_api_user, transport: str) -> None:
    alice, bob = make_api_user(), make_api_user()
    room = alice.create_room(member_ids=[bob.id])
    tabs = [bob.socket(transport), bob.socket(transport)]
    alice.post(room["id"], "to every tab")
    for tab in tabs:
        tab.wait_for("message", lambda m: m["body"] == "to every tab")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_retried_socket_send_returns_the_same_message_and_pushes_once(
    make_api_user, transport: str
) -> None:
    alice, bob = make_api_user(), make_api_user()
    room = alice.create_room(member_ids=[bob.id])
    alice_socket, bob_socket = alice.socket(transport), bob.socket(transport)
    first = alice_socket.send(room["id"], "once", client_id="same-send")
    retry = alice_socket.send(room["id"], "once", client_id="same-send")
    assert first["ok"] and retry["ok"]
    assert retry["message"] == first["message"]
    _barrier(alice, bob_socket, room["id"])
    assert [m["body"] for m in bob_socket.received()].count("once") == 1
    assert [m["body"] for m in alice.history(room["id"])].count("once") == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_joining_and_leaving_take_effect_on_open_sockets_at_once(
    make_api_user, transport: str
) -> None:
    alice, bob = make_api_user(), make_api_user()
    room = alice.create_room()
    control = alice.create_room("control", member_ids=[bob.id])
    bob_socket = bob.socket(transport)

    alice.post(room["id"], "before join")
    _barrier(alice, bob_socket, control["id"])
    assert "before join" not in [m["body"] for m in bob_socket.received()]

    bob.join(room["id"])
    alice.post(room["id"], "after join")
    bob_socket.wait_for("message", lambda m: m["body"] == "after join")

    assert bob.request("POST", f"/api/rooms/{room['id']}/leave").status_code == 204
    alice.post(room["id"], "after leave")
    _barrier(alice, bob_socket, control["id"])
    assert "after leave" not in [m["body"] for m in bob_socket.received()]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_socket_without_a_session_is_refused(server: ServerProcess, transport: str) -> None:
    client = socketio.Client(reconnection=False)
    reasons: list = []
    client.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.base_url, transports=[transport], wait_timeout=5)
    assert reasons == [{"message": "unauthorized"}]
    assert not client.connected


def _handshake(user: ApiUser, transport: str, origin: str) -> int:
    """Open an Engine.IO handshake with exactly one Origin header; return the HTTP status."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in user.http.cookies)
    if transport == "polling":
        response = user.request(
            "GET", "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        )
        return response.status_code
    url = user.base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    try:
        connection = websocket.create_connection(url, origin=origin, cookie=cookies, timeout=5)
    except websocket.WebSocketBadStatusException as refused:
        return refused.status_code
    connection.close()
    return 101


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_socket_from_a_foreign_origin_is_refused(make_api_user, transport: str) -> None:
    alice = make_api_user()
    assert _handshake(alice, transport, "http://evil.example") == 400
    assert _handshake(alice, transport, alice.base_url.replace("127.0.0.1", "localhost")) == 400
    # The same user, from the app's own origin, is let in.
    assert _handshake(alice, transport, alice.base_url) in {200, 101}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_socket_payloads_get_error_acks_and_store_nothing(
    make_api_user, transport: str
) -> None:
    alice, stranger = make_api_user(), make_api_user()
    room = alice.create_room()
    alice_socket, stranger_socket = alice.socket(transport), stranger.socket(transport)
    bad = [
        None,
        "a string",
        [1, 2],
        {},
        {"room_id": room["id"]},
        {"room_id": room["id"], "body": ""},
        {"room_id": room["id"], "body": "x" * 4001},
        {"room_id": room["id"], "body": {"nested": "junk"}},
        {"room_id": "not-a-uuid", "body": "hi"},
        {"room_id": room["id"], "body": "hi", "client_id": "bad id!"},
    ]
    for payload in bad:
        ack = alice_socket.emit_ack("send_message", payload)
        assert ack["ok"] is False and ack["error"] == "invalid", payload
        assert ack["message"]
    unknown = alice_socket.send(str(uuid.uuid4()), "hi")
    assert unknown == {"ok": False, "error": "not_found", "message": unknown["message"]}
    not_member = stranger_socket.send(room["id"], "let me in")
    assert not_member["ok"] is False and not_member["error"] == "not_found"
    assert alice.history(room["id"]) == []
    # The connection survived all of it.
    assert alice_socket.send(room["id"], "still here")["ok"] is True


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logout_closes_the_sockets_of_that_session(make_api_user, transport: str) -> None:
    alice = make_api_user()
    alice_socket = alice.socket(transport)
    assert alice.request("POST", "/api/auth/logout").status_code == 204
    alice_socket.wait_for("session_ended")
    from .support import wait_until

    wait_until(lambda: not alice_socket.sio.connected, timeout=5)


def test_a_burst_of_sends_on_one_polling_socket_is_all_acknowledged(make_api_user) -> None:
    """A polling client batches a burst into one POST; the server must take the whole batch."""
    alice = make_api_user()
    room = alice.create_room()
    sock = alice.socket("polling")
    with ThreadPoolExecutor(max_workers=40) as pool:
        acks = list(pool.map(lambda n: sock.send(room["id"], f"burst {n}"), range(40)))
    assert all(ack["ok"] for ack in acks)
    assert sorted(ack["message"]["seq"] for ack in acks) == list(range(1, 41))
