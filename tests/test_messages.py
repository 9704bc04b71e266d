"""Message rules: seq numbering, retried sends, history pages, and bad input."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import func, select

from chat.extensions import db
from chat.models import Message, Room

# Seq numbering and client_id idempotency are rules of the database: pinned on both.
pytestmark = pytest.mark.both_databases


def _post(user, room_id: str, body, client_id=None):
    payload = {"body": body}
    if client_id is not None:
        payload["client_id"] = client_id
    return user.call("POST", f"/api/rooms/{room_id}/messages", json=payload)


def test_messages_are_numbered_per_room_from_one(make_user) -> None:
    user = make_user()
    room_a, room_b = user.create_room("a"), user.create_room("b")
    seqs_a = [_post(user, room_a["id"], f"a{i}").get_json()["seq"] for i in range(3)]
    seqs_b = [_post(user, room_b["id"], f"b{i}").get_json()["seq"] for i in range(2)]
    assert seqs_a == [1, 2, 3]
    assert seqs_b == [1, 2]
    assert user.call("GET", f"/api/rooms/{room_a['id']}").get_json()["last_seq"] == 3


def test_a_send_changes_only_the_rooms_counters_and_activity(app: Flask, make_user) -> None:
    """The send's UPDATE of ``rooms`` sets its numbers and activity time, nothing else."""
    user = make_user()
    room_id = uuid.UUID(user.create_room("Untouched")["id"])
    with app.app_context():
        before = db.session.get(Room, room_id)
        kept = (before.title, before.kind, before.created_at, before.created_by_id)
        db.session.remove()
    assert _post(user, str(room_id), "hello").status_code == 201
    with app.app_context():
        after = db.session.get(Room, room_id)
        assert (after.title, after.kind, after.created_at, after.created_by_id) == kept
        assert (after.last_seq, after.last_change) == (1, 1)


def test_stored_message_has_the_documented_shape(make_user) -> None:
    user = make_user("Mina")
    room = user.create_room()
    response = _post(user, room["id"], "  hello  ", client_id="c-1")
    assert response.status_code == 201
    message = response.get_json()
    assert message["body"] == "hello", "bodies are trimmed"
    assert message["room_id"] == room["id"]
    assert message["sender_id"] == user.id
    assert message["client_id"] == "c-1"
    assert isinstance(message["id"], int) and message["seq"] == 1
    assert message["created_at"].endswith("+00:00")
    assert message["sender"]["display_name"] == "Mina"


def test_repeated_client_id_returns_the_stored_message_and_stores_one_row(
    app: Flask, make_user
) -> None:
    user = make_user()
    room = user.create_room()
    first = _post(user, room["id"], "once", client_id="retry-me")
    second = _post(user, room["id"], "once", client_id="retry-me")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Message))
    assert count == 1
    # The retry did not consume a seq: the next message is 2.
    assert _post(user, room["id"], "next").get_json()["seq"] == 2


def test_same_client_id_from_another_sender_is_a_different_message(make_user) -> None:
    owner, guest = make_user(), make_user()
    room = owner.create_room(member_ids=[guest.id])
    a = _post(owner, room["id"], "mine", client_id="same")
    b = _post(guest, room["id"], "yours", client_id="same")
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]


def test_client_id_reused_in_another_room_is_409(make_user) -> None:
    user = make_user()
    room_a, room_b = user.create_room("a"), user.create_room("b")
    assert _post(user, room_a["id"], "x", client_id="k").status_code == 201
    response = _post(user, room_b["id"], "x", client_id="k")
    assert response.status_code == 409
    assert response.get_json()["error"] == "client_id_reused"


def test_history_pages_return_every_message_once_in_order(make_user) -> None:
    user = make_user()
    room = user.create_room()
    for i in range(1, 26):
        _post(user, room["id"], f"m{i}")
    path = f"/api/rooms/{room['id']}/messages"

    newest = user.call("GET", path + "?limit=10").get_json()["messages"]
    assert [m["seq"] for m in newest] == list(range(16, 26))

    backwards, before = [], None
    while True:
        query = "?limit=10" + (f"&before={before}" if before else "")
        page = user.call("GET", path + query).get_json()["messages"]
        if not page:
            break
        backwards = page + backwards
        before = page[0]["seq"]
    assert [m["seq"] for m in backwards] == list(range(1, 26))

    forwards, after = [], 0
    while True:
        page = user.call("GET", path + f"?after={after}&limit=7").get_json()["messages"]
        if not page:
            break
        forwards += page
        after = page[-1]["seq"]
    assert [m["body"] for m in forwards] == [f"m{i}" for i in range(1, 26)]

    window = user.call("GET", path + "?after=5&before=9").get_json()["messages"]
    assert [m["seq"] for m in window] == [6, 7, 8]
    assert user.call("GET", path).get_json()["messages"][-1]["seq"] == 25


def test_every_bad_message_input_gets_a_4xx_and_stores_nothing(app: Flask, make_user) -> None:
    user = make_user()
    room = user.create_room()
    assert _post(user, room["id"], "kept").status_code == 201
    path = f"/api/rooms/{room['id']}/messages"
    bad_posts = [
        {},
        {"body": ""},
        {"body": "   \n\t "},
        {"body": "x" * 4001},
        {"body": 42},
        {"body": None},
        {"body": ["list"]},
        {"body": "ok", "client_id": "has spaces"},
        {"body": "ok", "client_id": "x" * 65},
        {"body": "ok", "client_id": 7},
        {"body": "ok", "unexpected": 1},
    ]
    for payload in bad_posts:
        response = user.call("POST", path, json=payload)
        assert response.status_code == 400, payload
        assert set(response.get_json()) >= {"error", "message"}
    for raw, content_type in [
        ("not json", "application/json"),
        ("[1,2]", "application/json"),
        ("body=x", "text/plain"),
    ]:
        response = user.call("POST", path, data=raw, headers={"Content-Type": content_type})
        assert 400 <= response.status_code < 500, raw
        assert response.get_json()["error"]
    for query in ["?limit=0", "?limit=201", "?limit=abc", "?before=0", "?after=-1", "?before=x"]:
        response = user.call("GET", path + query)
        assert response.status_code == 400, query
        assert response.get_json()["error"] == "invalid"
    assert user.call("GET", f"/api/rooms/{uuid.uuid4()}/messages").status_code == 404
    assert user.call("PUT", path, json={"body": "x"}).status_code == 405
    with app.app_context():
        bodies = db.session.scalars(select(Message.body)).all()
    assert bodies == ["kept"]


def test_message_at_the_length_limit_is_accepted(make_user) -> None:
    user = make_user()
    room = user.create_room()
    response = _post(user, room["id"], "가" * 4000)
    assert response.status_code == 201
    assert response.get_json()["body"] == "가" * 4000


def test_room_page_renders_history_escaped(make_user) -> None:
    user = make_user("Mina")
    room = user.create_room()
    _post(user, room["id"], "<script>alert(1)</script>")
    html = user.client.get(f"/rooms/{room['id']}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html


def test_an_empty_page_is_empty_for_a_member_and_404_for_anyone_else(make_user) -> None:
    """The page query itself holds the membership rule, so "no rows" must still tell an
    empty history (or a page past the end) from a reader who is not a member."""
    member, stranger = make_user("Member"), make_user("Stranger")
    room = member.create_room("quiet")
    url = f"/api/rooms/{room['id']}/messages"
    assert member.call("GET", url).get_json() == {"messages": []}
    assert stranger.call("GET", url).status_code == 404
    assert _post(member, room["id"], "the only one").status_code == 201
    assert member.call("GET", url + "?after=1").get_json() == {"messages": []}
    assert member.call("GET", url + "?around=1").get_json()["messages"][0]["body"] == (
        "the only one"
    )
    for query in ("", "?after=1", "?before=1", "?around=1"):
        response = stranger.call("GET", url + query)
        assert response.status_code == 404, query
        assert response.get_json()["error"] == "not_found"
