"""Room rules: create, list by activity, join by id or link, leave, and who may see what."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask

from .conftest import InProcessUser

# Membership uniqueness and cascades are database rules: pinned on both.
pytestmark = pytest.mark.both_databases


def test_create_room_makes_creator_and_named_users_members(make_user) -> None:
    owner, guest = make_user("Owner"), make_user("Guest")
    room = owner.create_room("  Team  ", member_ids=[guest.id])
    assert room["kind"] == "group"
    assert room["title"] == "Team"
    assert room["last_seq"] == 0
    assert {m["id"] for m in room["members"]} == {owner.id, guest.id}
    assert all("email" not in m for m in room["members"]), "members never expose emails"
    assert guest.call("GET", f"/api/rooms/{room['id']}").status_code == 200


def test_room_list_is_ordered_by_most_recent_activity(make_user) -> None:
    user = make_user()
    first = user.create_room("first")
    second = user.create_room("second")
    listed = [r["id"] for r in user.call("GET", "/api/rooms").get_json()["rooms"]]
    assert listed == [second["id"], first["id"]]
    assert (
        user.call("POST", f"/api/rooms/{first['id']}/messages", json={"body": "up"}).status_code
        == 201
    )
    listed = [r["id"] for r in user.call("GET", "/api/rooms").get_json()["rooms"]]
    assert listed == [first["id"], second["id"]]


def test_join_by_id_is_idempotent_and_leave_removes_access(make_user) -> None:
    owner, guest = make_user(), make_user()
    room = owner.create_room()
    path = f"/api/rooms/{room['id']}"
    assert guest.call("GET", path).status_code == 404
    joined = guest.call("POST", path + "/join")
    assert joined.status_code == 200
    assert guest.id in {m["id"] for m in joined.get_json()["members"]}
    again = guest.call("POST", path + "/join")
    assert again.status_code == 200
    assert len(again.get_json()["members"]) == 2
    assert guest.call("POST", path + "/leave").status_code == 204
    assert guest.call("GET", path).status_code == 404
    assert guest.call("POST", path + "/leave").status_code == 404
    assert [r["id"] for r in guest.call("GET", "/api/rooms").get_json()["rooms"]] == []


def test_non_member_gets_404_on_every_room_endpoint_but_join(make_user) -> None:
    owner, stranger = make_user(), make_user()
    room = owner.create_room()
    owner.call("POST", f"/api/rooms/{room['id']}/messages", json={"body": "secret"})
    base = f"/api/rooms/{room['id']}"
    for method, path, payload in [
        ("GET", base, None),
        ("GET", base + "/messages", None),
        ("POST", base + "/messages", {"body": "hi"}),
        ("POST", base + "/leave", None),
    ]:
        response = stranger.call(method, path, json=payload)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"] == "not_found"
    assert stranger.call("GET", f"/rooms/{room['id']}").status_code == 404


def test_unknown_rooms_and_malformed_ids_are_404(make_user) -> None:
    user = make_user()
    missing = uuid.uuid4()
    assert user.call("GET", f"/api/rooms/{missing}").status_code == 404
    assert user.call("POST", f"/api/rooms/{missing}/join").status_code == 404
    response = user.call("GET", "/api/rooms/not-a-uuid")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_create_room_rejects_bad_input(make_user) -> None:
    user = make_user()
    for payload in [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 101},
        {"title": 5},
        {"title": "ok", "member_ids": ["not-a-uuid"]},
        {"title": "ok", "member_ids": "nope"},
        {"title": "ok", "member_ids": [str(uuid.uuid4())]},
    ]:
        response = user.call("POST", "/api/rooms", json=payload)
        assert response.status_code == 400, payload
        assert response.get_json()["error"] in {"invalid", "unknown_user"}
    assert user.call("GET", "/api/rooms").get_json()["rooms"] == []


def test_anonymous_gets_401_on_room_api(client) -> None:
    assert client.get("/api/rooms").status_code == 401
    response = InProcessUser(client).call("POST", "/api/rooms", json={"title": "x"})
    assert response.status_code == 401


def test_home_page_create_and_join_by_link_forms(app: Flask, make_user) -> None:
    owner = make_user("Owner")
    page = owner.client.get("/").get_data(as_text=True)
    assert "Create a room" in page
    response = owner.client.post(
        "/rooms", data={"csrf_token": owner.csrf, "create-title": "Book club"}
    )
    assert response.status_code == 302
    room_path = response.headers["Location"]
    room_id = room_path.rsplit("/", 1)[1]
    assert "Book club" in owner.client.get(room_path).get_data(as_text=True)

    guest = make_user("Guest")
    invite = guest.client.get(f"/rooms/{room_id}/join")
    assert invite.status_code == 200
    joined = guest.client.post(
        "/rooms/join",
        data={"csrf_token": guest.csrf, "join-room": f"http://localhost/rooms/{room_id}/join"},
    )
    assert joined.status_code == 302 and joined.headers["Location"] == room_path
    assert guest.call("GET", f"/api/rooms/{room_id}").status_code == 200
