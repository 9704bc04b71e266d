"""1:1 conversations: one room per pair by database rule, titled per viewer, pushed live.

The in-process tests pin the rules; the real-server tests (gunicorn + gevent) prove
the race and the pushes with real sockets. Absence of a push is proved with a
barrier (a later push that must arrive), never a sleep.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from chat.extensions import db
from chat.models import Room, RoomMember

from . import images
from .support import ApiUser

# One room per pair is the unique key's rule; PostgreSQL races for it for real.
pytestmark = pytest.mark.both_databases


def open_direct(user, other_id: str):
    return user.call("POST", "/api/rooms/direct", json={"user_id": other_id})


# ---- the rules (in process) ---------------------------------------------------------


def test_first_open_creates_then_both_sides_get_the_same_room(make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    first = open_direct(alice, bob.id)
    assert first.status_code == 201
    room = first.get_json()
    assert room["kind"] == "direct"
    assert {m["id"] for m in room["members"]} == {alice.id, bob.id}
    assert all("email" not in m for m in room["members"])

    again = open_direct(alice, bob.id)
    other_side = open_direct(bob, alice.id)
    assert again.status_code == 200 and other_side.status_code == 200
    assert again.get_json()["id"] == other_side.get_json()["id"] == room["id"]


def test_each_side_sees_the_other_persons_name_as_the_title(make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    room_id = open_direct(alice, bob.id).get_json()["id"]
    assert open_direct(alice, bob.id).get_json()["title"] == "Bob"
    assert open_direct(bob, alice.id).get_json()["title"] == "Alice"
    assert alice.call("GET", f"/api/rooms/{room_id}").get_json()["title"] == "Bob"
    assert bob.call("GET", f"/api/rooms/{room_id}").get_json()["title"] == "Alice"
    listed = {r["id"]: r["title"] for r in bob.call("GET", "/api/rooms").get_json()["rooms"]}
    assert listed == {room_id: "Alice"}

    # A rename shows at once: the title is computed, not stored.
    alice.call("PATCH", "/api/me", json={"display_name": "앨리스"})
    assert bob.call("GET", f"/api/rooms/{room_id}").get_json()["title"] == "앨리스"
    assert "앨리스" in bob.client.get("/").get_data(as_text=True)


def test_group_rooms_keep_their_own_title(make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    room = alice.create_room("Book club", member_ids=[bob.id])
    assert bob.call("GET", f"/api/rooms/{room['id']}").get_json()["title"] == "Book club"


def test_a_conversation_with_oneself_is_refused(make_user) -> None:
    alice = make_user("Alice")
    response = open_direct(alice, alice.id)
    assert response.status_code == 400
    assert response.get_json()["error"] == "self_conversation"
    assert alice.call("GET", "/api/rooms").get_json()["rooms"] == []
    page = alice.client.post(f"/people/{alice.id}/message", data={"csrf_token": alice.csrf})
    assert page.status_code == 302 and page.headers["Location"] == "/people"


def test_bad_targets_are_refused(make_user, client) -> None:
    alice = make_user("Alice")
    unknown = open_direct(alice, str(uuid.uuid4()))
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not_found"
    for payload in [{}, {"user_id": "nope"}, {"user_id": 5}, {"user_id": None}]:
        response = alice.call("POST", "/api/rooms/direct", json=payload)
        assert response.status_code == 400, payload
        assert response.get_json()["error"] == "invalid"
    assert client.post("/api/rooms/direct", json={"user_id": alice.id}).status_code in {400, 401}


def test_direct_rooms_have_two_members_no_join_no_leave(app: Flask, make_user) -> None:
    alice, bob, eve = make_user("Alice"), make_user("Bob"), make_user("Eve")
    room_id = open_direct(alice, bob.id).get_json()["id"]
    path = f"/api/rooms/{room_id}"
    joined = eve.call("POST", path + "/join")
    assert joined.status_code == 404
    assert eve.call("GET", path).status_code == 404
    assert eve.call("POST", path + "/messages", json={"body": "hi"}).status_code == 404
    assert eve.client.get(f"/rooms/{room_id}").status_code == 404
    left = alice.call("POST", path + "/leave")
    assert left.status_code == 400 and left.get_json()["error"] == "direct_room"
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(RoomMember)
            .where(RoomMember.room_id == uuid.UUID(room_id))
        )
        assert count == 2


def test_a_lost_race_is_settled_by_the_unique_key(make_user, monkeypatch) -> None:
    """The pre-check misses a room inserted meanwhile: the constraint refuses the second
    insert, and the loser answers with the winner's room (200), not an error."""
    from chat.services import rooms

    alice, bob = make_user("Alice"), make_user("Bob")
    winner = open_direct(bob, alice.id).get_json()
    real_lookup = rooms._direct_room
    calls: list[str] = []

    def stale_first_lookup(key: str):
        calls.append(key)
        return None if len(calls) == 1 else real_lookup(key)

    monkeypatch.setattr(rooms, "_direct_room", stale_first_lookup)
    response = open_direct(alice, bob.id)
    assert len(calls) == 2, "the insert was tried, refused, and the room re-read"
    assert response.status_code == 200
    assert response.get_json()["id"] == winner["id"]
    assert response.get_json()["title"] == "Bob"


def test_message_button_opens_the_conversation_page(make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    directory = alice.client.get("/people").get_data(as_text=True)
    assert f'action="/people/{bob.id}/message"' in directory
    assert f'action="/people/{alice.id}/message"' not in directory, "no Message button for oneself"
    profile = alice.client.get(f"/people/{bob.id}").get_data(as_text=True)
    assert f'action="/people/{bob.id}/message"' in profile

    response = alice.client.post(f"/people/{bob.id}/message", data={"csrf_token": alice.csrf})
    assert response.status_code == 302
    room_path = response.headers["Location"]
    assert room_path.startswith("/rooms/")
    again = bob.client.post(f"/people/{alice.id}/message", data={"csrf_token": bob.csrf})
    assert again.headers["Location"] == room_path
    assert alice.client.get(room_path).status_code == 200
    # A GET never creates a room, and the form needs its CSRF token.
    assert alice.client.get(f"/people/{bob.id}/message").status_code == 405
    assert alice.client.post(f"/people/{bob.id}/message").status_code == 400


# ---- the race and the pushes (real server) ----------------------------------------------


def _open_all_at_once(alice: ApiUser, bob: ApiUser, calls: int) -> list[tuple[int, str]]:
    """``calls`` opens, alternating sides, released together by a barrier."""
    start = threading.Barrier(calls)

    def open_room(n: int) -> tuple[int, str]:
        opener, other = (alice, bob) if n % 2 else (bob, alice)
        http = requests.Session()  # one per thread: a requests session is not thread-safe
        http.cookies.update(opener.http.cookies)
        http.headers["X-CSRFToken"] = opener.http.headers["X-CSRFToken"]
        start.wait(timeout=30)
        with http:
            response = http.post(
                opener.base_url + "/api/rooms/direct", json={"user_id": other.id}, timeout=30
            )
        assert response.status_code in {200, 201}, response.text
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(open_room, range(calls)))


@pytest.mark.server
def test_both_sides_opening_at_once_get_one_room(make_api_user, server) -> None:
    """Many simultaneous opens from both sides: one 201, the rest 200, all the same room."""
    for _round in range(3):
        alice, bob = make_api_user("Alice"), make_api_user("Bob")
        results = _open_all_at_once(alice, bob, 16)
        assert len({room_id for _status, room_id in results}) == 1
        assert [status for status, _ in results].count(201) == 1
        rooms_of_alice = alice.request("GET", "/api/rooms").json()["rooms"]
        assert [r["id"] for r in rooms_of_alice] == [results[0][1]]

    from chat import create_app

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=server.database_url)
    with app.app_context():
        keys = db.session.scalars(select(Room.direct_key).where(Room.kind == "direct")).all()
        assert len(keys) == len(set(keys)), "one room per pair, by the unique direct_key"
        db.engine.dispose()


@pytest.mark.server
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_other_side_gets_room_created_then_the_first_message(
    make_api_user, transport: str
) -> None:
    alice, bob = make_api_user("Alice"), make_api_user("Bob")
    bob_tab, alice_other_tab = bob.socket(transport), alice.socket(transport)

    created = alice.request("POST", "/api/rooms/direct", json={"user_id": bob.id})
    assert created.status_code == 201
    room = created.json()
    sent = alice.post(room["id"], "Hi Bob, it's me")
    assert sent.status_code == 201

    message = bob_tab.wait_for("message", lambda m: m["room_id"] == room["id"])
    assert message == sent.json()
    announced = bob_tab.wait_for("room_created", lambda e: e["room"]["id"] == room["id"])
    assert announced["room"]["title"] == "Alice", "titled for Bob"
    assert {m["id"] for m in announced["room"]["members"]} == {alice.id, bob.id}
    order = [
        name
        for name, data in bob_tab.events
        if (name == "room_created" and data["room"]["id"] == room["id"])
        or (name == "message" and data["room_id"] == room["id"])
    ]
    assert order == ["room_created", "message"]

    mine = alice_other_tab.wait_for("room_created", lambda e: e["room"]["id"] == room["id"])
    assert mine["room"]["title"] == "Bob", "the creator's other tabs hear of it too, titled for her"
    alice_other_tab.wait_for("message", lambda m: m["body"] == "Hi Bob, it's me")

    # Bob answers over his socket, in the room his socket was never told to join by the client.
    ack = bob_tab.send(room["id"], "Hello Alice")
    assert ack["ok"] is True
    alice_other_tab.wait_for("message", lambda m: m["body"] == "Hello Alice")

    # Opening it again announces nothing new.
    assert alice.request("POST", "/api/rooms/direct", json={"user_id": bob.id}).status_code == 200
    barrier = alice.post(room["id"], "barrier")
    bob_tab.wait_for("message", lambda m: m["id"] == barrier.json()["id"])
    assert len(bob_tab.received("room_created")) == 1


@pytest.mark.server
def test_user_updated_reaches_those_who_share_a_room_and_no_one_else(make_api_user) -> None:
    alice, bob, carol, eve = (make_api_user(n) for n in ("Alice", "Bob", "Carol", "Eve"))
    alice.request("POST", "/api/rooms/direct", json={"user_id": bob.id})
    group = alice.create_room("Group", member_ids=[carol.id, bob.id])
    control = eve.create_room("Eve's", member_ids=[bob.id])
    bob_tab, carol_tab, eve_tab = bob.socket(), carol.socket("polling"), eve.socket()
    alice_tab = alice.socket()

    renamed = alice.request("PATCH", "/api/me", json={"display_name": "앨리스 🌸"})
    assert renamed.status_code == 200
    for tab in (bob_tab, carol_tab, alice_tab):
        event = tab.wait_for("user_updated", lambda e: e["user"]["id"] == alice.id)
        assert event["user"]["display_name"] == "앨리스 🌸"
        assert "email" not in event["user"]
    # Bob shares two rooms with Alice, and still hears it once.
    barrier = eve.post(control["id"], "barrier 1")
    bob_tab.wait_for("message", lambda m: m["id"] == barrier.json()["id"])
    assert len(bob_tab.received("user_updated")) == 1

    photo = alice.request(
        "POST", "/api/me/avatar", files={"avatar": ("me.jpg", BytesIO(images.jpeg()), "image/jpeg")}
    )
    assert photo.status_code == 200
    new_url = photo.json()["avatar_url"]
    event = carol_tab.wait_for("user_updated", lambda e: e["user"]["avatar_url"] == new_url)
    assert event["user"]["display_name"] == "앨리스 🌸"

    # Eve shares no room with Alice: she heard none of it.
    barrier = alice.post(group["id"], "barrier 2")
    carol_tab.wait_for("message", lambda m: m["id"] == barrier.json()["id"])
    own = bob.post(control["id"], "barrier 3")
    eve_tab.wait_for("message", lambda m: m["id"] == own.json()["id"])
    assert eve_tab.received("user_updated") == []

    # A refused upload announces nothing.
    refused = alice.request(
        "POST", "/api/me/avatar", files={"avatar": ("x.png", images.not_an_image(), "image/png")}
    )
    assert refused.status_code == 400
    barrier = alice.post(group["id"], "barrier 4")
    carol_tab.wait_for("message", lambda m: m["id"] == barrier.json()["id"])
    assert len(carol_tab.received("user_updated")) == 2
