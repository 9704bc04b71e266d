"""A socket keeps its user from connect on (chat/socket_sessions.py); it must never be stale.

Loading the user once per socket rather than once per event took a third off a
send's CPU (docs/performance.md). What it must not cost: a name or avatar changed
since the connect, or a session ended by a password change since then, showing up
in what the socket sends. Changes made through this instance drop the kept user;
changes it never heard of (made through another instance) are caught by the send's
own transaction, which reads the sender's epoch and profile beside the membership.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, select, update

from chat.extensions import db, socketio
from chat.models import Message, Profile, User

from .support import ServerProcess

pytestmark = pytest.mark.both_databases


def _change_behind_the_servers_back(server: ServerProcess, table, user_id: str, **values) -> None:
    """Write to the database directly: what another instance's change looks like to this one."""
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as connection:
            key = table.c.user_id if table is Profile.__table__ else table.c.id
            connection.execute(update(table).where(key == uuid.UUID(user_id)).values(**values))
    finally:
        engine.dispose()


@pytest.mark.server
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_rename_shows_in_the_next_message_of_an_open_socket(make_api_user, transport) -> None:
    alice, bob = make_api_user("Alice"), make_api_user("Bob")
    room = alice.create_room("Names", member_ids=[bob.id])
    sender = alice.socket(transport)
    listener = bob.socket(transport)
    before = sender.send(room["id"], "first")
    assert before["ok"] and before["message"]["sender"]["display_name"] == "Alice"

    assert alice.request("PATCH", "/api/me", json={"display_name": "Alicia"}).status_code == 200
    after = sender.send(room["id"], "second")

    assert after["ok"] and after["message"]["sender"]["display_name"] == "Alicia"
    pushed = listener.wait_for("message", lambda m: m["body"] == "second")
    assert pushed["sender"]["display_name"] == "Alicia"


@pytest.mark.server
def test_a_change_this_instance_never_heard_of_shows_in_the_next_send(
    server: ServerProcess, make_api_user
) -> None:
    alice = make_api_user("Alice")
    room = alice.create_room("Elsewhere")
    sender = alice.socket()
    assert sender.send(room["id"], "before")["message"]["sender"]["display_name"] == "Alice"

    _change_behind_the_servers_back(
        server,
        Profile.__table__,
        alice.id,
        display_name="Renamed Elsewhere",
        updated_at=datetime.now(UTC),
    )
    ack = sender.send(room["id"], "after")

    assert ack["ok"]
    assert ack["message"]["sender"]["display_name"] == "Renamed Elsewhere"
    stored = alice.history(room["id"])
    assert [m["sender"]["display_name"] for m in stored] == ["Renamed Elsewhere"] * 2


@pytest.mark.server
def test_a_socket_whose_session_ended_elsewhere_cannot_send(
    server: ServerProcess, make_api_user
) -> None:
    """A password change bumps the epoch; a socket that missed it is refused, nothing stored."""
    alice = make_api_user("Alice")
    room = alice.create_room("Ended")
    sender = alice.socket()
    assert sender.send(room["id"], "while signed in")["ok"]

    _change_behind_the_servers_back(server, User.__table__, alice.id, session_epoch=7)
    ack = sender.send(room["id"], "after the change")

    assert ack == {
        "ok": False,
        "error": "unauthorized",
        "message": "Your session has ended; log in again.",
    }
    _change_behind_the_servers_back(server, User.__table__, alice.id, session_epoch=0)
    assert [m["body"] for m in alice.history(room["id"])] == ["while signed in"]


def test_events_after_the_connect_do_not_read_the_user_again(app: Flask, make_user) -> None:
    """The point of keeping it: a send reads no ``users`` row outside its own transaction."""
    alice = make_user("Alice")
    room = alice.create_room("Quiet")
    client = socketio.test_client(app, flask_test_client=alice.client)
    assert client.is_connected()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for number in range(3):
            ack = client.emit(
                "send_message",
                {"room_id": room["id"], "body": f"hi {number}", "client_id": uuid.uuid4().hex},
                callback=True,
            )
            assert ack["ok"], ack
    finally:
        event.remove(engine, "before_cursor_execute", record)
        client.disconnect()

    # Loading the user reads the whole row; the send's own check reads two columns.
    user_loads = [s for s in statements if "users.password_hash" in s]
    assert user_loads == [], user_loads
    with app.app_context():
        assert db.session.scalar(select(Message.body).where(Message.seq == 3)) == "hi 2"
