"""The hand-written message JSON (chat/payloads.py) is ``MessageSchema``'s, field for field.

History pages, catch-up pages, sync answers, pushes and acks are written by hand
for speed (docs/performance.md); the schema stays the documented contract. These
tests hold the two equal for every kind of message a room can hold.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from chat.extensions import db, socketio
from chat.models import Message, User
from chat.payloads import id_text, message_payload, message_payloads, utc_iso
from chat.schemas import MessageSchema
from chat.services import messages
from chat.services.stored_messages import SharedUuid, _mentioned_ids

pytestmark = pytest.mark.both_databases


@pytest.fixture
def varied_room(app: Flask, make_user) -> tuple[dict, object]:
    """A room with a plain, a mentioning, an edited and a deleted message, and one whose
    sender no longer exists."""
    alice, bob, carol = make_user("Alice"), make_user("Bob"), make_user("Carol Ünïcode")
    room = alice.create_room("Everything", member_ids=[bob.id, carol.id])
    url = f"/api/rooms/{room['id']}/messages"

    def post(user, body: str) -> dict:
        response = user.call("POST", url, json={"body": body, "client_id": uuid.uuid4().hex})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    post(alice, "plain <b>text</b>")
    post(alice, "hello @Bob and @Carol Ünïcode")
    edited = post(bob, "first version")
    edit = bob.call("PATCH", f"/api/messages/{edited['id']}", json={"body": "second"})
    assert edit.status_code == 200
    deleted = post(carol, "soon gone")
    assert carol.call("DELETE", f"/api/messages/{deleted['id']}").status_code == 200
    post(carol, "from someone who will leave")
    with app.app_context():
        db.session.delete(db.session.get(User, uuid.UUID(carol.id)))
        db.session.commit()
    return room, alice


def _schema_dump(app: Flask, room_id: str, order_by) -> list[dict]:
    with app.app_context():
        stored = db.session.scalars(
            select(Message).where(Message.room_id == uuid.UUID(room_id)).order_by(order_by)
        ).all()
        assert len(stored) == 5
        return MessageSchema(many=True).dump(stored)


def test_a_history_page_is_the_schema_dump(app: Flask, varied_room) -> None:
    room, alice = varied_room
    expected = _schema_dump(app, room["id"], Message.seq)
    assert expected[-1]["sender"] is None and expected[1]["mentions"]  # the fixture's variety

    page = alice.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]

    assert page == expected


def test_a_catch_up_page_is_the_schema_dump(app: Flask, varied_room) -> None:
    room, alice = varied_room
    expected = _schema_dump(app, room["id"], Message.change_seq)

    changes = alice.call("GET", f"/api/rooms/{room['id']}/changes?since=0").get_json()

    assert changes["messages"] == expected
    assert changes["has_more"] is False


def test_the_sync_answer_is_the_schema_dump(app: Flask, varied_room) -> None:
    room, alice = varied_room
    expected = _schema_dump(app, room["id"], Message.change_seq)
    client = socketio.test_client(app, flask_test_client=alice.client)
    try:
        ack = client.emit("sync", {"rooms": {room["id"]: 0}}, callback=True)
    finally:
        client.disconnect()
    assert ack["ok"], ack
    assert ack["rooms"][room["id"]]["messages"] == expected


def test_the_push_and_ack_payload_of_an_orm_message_is_the_schema_dump(
    app: Flask, varied_room
) -> None:
    room, _alice = varied_room
    with app.app_context():
        stored = db.session.scalars(
            select(Message).where(Message.room_id == uuid.UUID(room["id"])).order_by(Message.seq)
        ).all()
        schema = MessageSchema()
        assert [message_payload(m) for m in stored] == [schema.dump(m) for m in stored]
        assert message_payloads(stored) == MessageSchema(many=True).dump(stored)


def test_a_page_parses_each_distinct_id_once(app: Flask, varied_room, db_backend: str) -> None:
    """Item 19 (docs/performance.md): on SQLite, where ids come back as text, a page's
    rows share one ``UUID`` per distinct id; PostgreSQL's driver makes them itself."""
    room, alice = varied_room
    with app.app_context():
        page = messages.history(db.session.get(User, uuid.UUID(alice.id)), uuid.UUID(room["id"]))
        processor = (
            SharedUuid().dialect_impl(db.engine.dialect).result_processor(db.engine.dialect, None)
        )
    assert [m.room_id for m in page] == [uuid.UUID(room["id"])] * 5
    alices = [m for m in page if m.sender_id == uuid.UUID(alice.id)]
    assert len(alices) == 2
    if db_backend == "sqlite":
        assert len({id(m.room_id) for m in page}) == 1
        assert alices[0].sender_id is alices[1].sender_id is alices[0].sender.id
    else:
        assert processor is None


def test_a_mentioned_id_is_parsed_once() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    parsed = _mentioned_ids(f"{second.hex},{first.hex}")  # SQLite's text, any order
    again = _mentioned_ids(f"{first.hex},{second.hex}")

    assert parsed == again == sorted([first, second])
    assert all(one is other for one, other in zip(parsed, again, strict=True))
    assert _mentioned_ids(f"{first},{second}") == parsed  # PostgreSQL's text form


@pytest.mark.parametrize("microsecond", [0, 123456])
def test_a_naive_timestamp_is_written_as_utc(microsecond: int) -> None:
    naive = datetime(2026, 11, 26, 9, 30, 5, microsecond)
    aware = naive.replace(tzinfo=UTC)

    assert utc_iso(naive) == utc_iso(aware) == aware.isoformat()
    assert datetime.fromisoformat(utc_iso(naive)) == aware


def test_an_ids_text_is_its_str() -> None:
    some_id = uuid.uuid4()

    assert id_text(some_id) == str(some_id)
    assert id_text(uuid.UUID(str(some_id))) == str(some_id)  # an equal id, another object
