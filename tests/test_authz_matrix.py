"""Who may do what, as one table, checked on every route and socket event that touches a room.

Each row is one action; each column one kind of caller:

- ``anonymous``: no login;
- ``stranger``: logged in, not a member of the room;
- ``member``: in the room, not the author of its message;
- ``author``: in the room, and wrote the message.

The expected answers come from the rules in ``chat/services/permissions.py``: room
content is for members, and others are told it does not exist (404, never 403);
the id of a group room is its invitation; a message changes only by its author.
Every case runs against a fresh world, so an action that changes it (a leave, a
delete) cannot affect the next one.

Two guards keep the table complete: every URL rule with a ``room_id`` or
``message_id`` and every socket event handler must appear in it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from chat.extensions import socketio
from chat.messaging.sockets import ChatNamespace

from .conftest import InProcessUser

ROLES = ("anonymous", "stranger", "member", "author")


@dataclass(frozen=True)
class Http:
    method: str
    path: str  # {group}, {direct}, {message}, {nowhere} are filled in from the world
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class Socket:
    event: str
    payload: dict[str, Any]


def _row(action: Http | Socket, anonymous: Any, stranger: Any, member: Any, author: Any):
    return action, dict(zip(ROLES, (anonymous, stranger, member, author), strict=True))


REFUSED = "connection refused"  # an anonymous socket never gets as far as an event
GONE = "listed in gone"  # sync answers ok, and names the room as one to drop

MATRIX = [
    # -- a group room's content: members only, everyone else gets 404 ----------------
    _row(Http("GET", "/api/rooms/{group}"), 401, 404, 200, 200),
    _row(Http("GET", "/api/rooms/{group}/messages"), 401, 404, 200, 200),
    _row(Http("GET", "/api/rooms/{group}/changes?since=0"), 401, 404, 200, 200),
    _row(Http("POST", "/api/rooms/{group}/messages", {"body": "hi"}), 401, 404, 201, 201),
    _row(Http("POST", "/api/rooms/{group}/read", {"seq": 1}), 401, 404, 204, 204),
    _row(Http("PATCH", "/api/rooms/{group}/settings", {"muted": True}), 401, 404, 200, 200),
    _row(Http("POST", "/api/rooms/{group}/leave"), 401, 404, 204, 204),
    # The id of a group room is its invitation.
    _row(Http("POST", "/api/rooms/{group}/join"), 401, 200, 200, 200),
    _row(Http("GET", "/rooms/{group}"), 302, 404, 200, 200),
    _row(Http("GET", "/api/search?q=author&room_id={group}"), 401, 404, 200, 200),
    _row(Http("GET", "/rooms/{group}/join"), 302, 200, 302, 302),
    # -- a message: members see it; only its author changes it ------------------------
    _row(Http("PATCH", "/api/messages/{message}", {"body": "changed"}), 401, 404, 403, 200),
    _row(Http("DELETE", "/api/messages/{message}"), 401, 404, 403, 200),
    # -- a direct room exists only for its two members --------------------------------
    _row(Http("GET", "/api/rooms/{direct}"), 401, 404, 200, 200),
    _row(Http("GET", "/api/rooms/{direct}/messages"), 401, 404, 200, 200),
    _row(Http("POST", "/api/rooms/{direct}/messages", {"body": "hi"}), 401, 404, 201, 201),
    _row(Http("POST", "/api/rooms/{direct}/join"), 401, 404, 404, 404),
    _row(Http("POST", "/api/rooms/{direct}/leave"), 401, 404, 400, 400),
    _row(Http("GET", "/rooms/{direct}"), 302, 404, 200, 200),
    # -- a room that does not exist answers exactly like a room one is not in -----------
    _row(Http("GET", "/api/rooms/{nowhere}"), 401, 404, 404, 404),
    _row(Http("POST", "/api/rooms/{nowhere}/join"), 401, 404, 404, 404),
    _row(Http("POST", "/api/rooms/{nowhere}/messages", {"body": "hi"}), 401, 404, 404, 404),
    _row(Http("PATCH", "/api/messages/999999", {"body": "x"}), 401, 404, 404, 404),
    # -- the same rules over the socket -------------------------------------------------
    _row(
        Socket("send_message", {"room_id": "{group}", "body": "hi"}),
        REFUSED,
        "not_found",
        "ok",
        "ok",
    ),
    _row(
        Socket("send_message", {"room_id": "{direct}", "body": "hi"}),
        REFUSED,
        "not_found",
        "ok",
        "ok",
    ),
    _row(
        Socket("edit_message", {"message_id": "{message}", "body": "changed"}),
        REFUSED,
        "not_found",
        "not_author",
        "ok",
    ),
    _row(
        Socket("delete_message", {"message_id": "{message}"}),
        REFUSED,
        "not_found",
        "not_author",
        "ok",
    ),
    _row(Socket("typing", {"room_id": "{group}"}), REFUSED, "not_found", "ok", "ok"),
    _row(Socket("mark_read", {"room_id": "{group}", "seq": 1}), REFUSED, "not_found", "ok", "ok"),
    _row(Socket("sync", {"rooms": {"{group}": 0}}), REFUSED, GONE, "ok", "ok"),
    _row(Socket("sync", {"rooms": {"{direct}": 0}}), REFUSED, GONE, "ok", "ok"),
    _row(Socket("sync", {"rooms": {"{nowhere}": 0}}), REFUSED, GONE, GONE, GONE),
]


def _name(action: Http | Socket) -> str:
    if isinstance(action, Http):
        return f"{action.method} {action.path}"
    return f"socket {action.event} {sorted(action.payload)}"


CASES = [
    pytest.param(action, role, expected[role], id=f"{_name(action)}-{role}")
    for action, expected in MATRIX
    for role in ROLES
]


@dataclass
class World:
    users: dict[str, InProcessUser]
    ids: dict[str, str]

    def fill(self, value: Any) -> Any:
        """Put the world's ids into a path or payload template."""
        if isinstance(value, str):
            for name, real in self.ids.items():
                value = value.replace("{" + name + "}", real)
            return int(value) if value.isdigit() else value
        if isinstance(value, dict):
            return {self.fill(key): self.fill(item) for key, item in value.items()}
        return value


@pytest.fixture
def world(app: Flask, make_user) -> World:
    author, member, stranger = make_user("Author"), make_user("Member"), make_user("Stranger")
    group = author.create_room("Group", member_ids=[member.id])
    response = author.call(
        "POST", f"/api/rooms/{group['id']}/messages", json={"body": "the author's"}
    )
    assert response.status_code == 201
    direct = author.call("POST", "/api/rooms/direct", json={"user_id": member.id})
    assert direct.status_code == 201
    return World(
        users={
            "anonymous": InProcessUser(app.test_client()),
            "stranger": stranger,
            "member": member,
            "author": author,
        },
        ids={
            "group": group["id"],
            "direct": direct.get_json()["id"],
            "message": str(response.get_json()["id"]),
            "nowhere": str(uuid.uuid4()),
        },
    )


def _socket_outcome(app: Flask, user: InProcessUser, action: Socket, world: World) -> str:
    client = socketio.test_client(app, flask_test_client=user.client)
    if not client.is_connected():
        return REFUSED
    try:
        payload = world.fill(action.payload)
        ack = client.emit(action.event, payload, callback=True)
    finally:
        client.disconnect()
    if not ack["ok"]:
        return ack["error"]
    if action.event == "sync":
        (room_id,) = payload["rooms"]
        if room_id in ack["gone"]:
            assert room_id not in ack["rooms"]
            return GONE
        assert room_id in ack["rooms"]
    return "ok"


@pytest.mark.parametrize(("action", "role", "expected"), CASES)
def test_authorization_matrix(
    app: Flask, world: World, action: Http | Socket, role: str, expected: Any
) -> None:
    user = world.users[role]
    if isinstance(action, Socket):
        assert _socket_outcome(app, user, action, world) == expected
        return
    kwargs = {"json": world.fill(action.json)} if action.json is not None else {}
    response = user.call(action.method, world.fill(action.path), **kwargs)
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if expected == 302:
        assert response.headers["Location"].startswith(("/login", "/rooms/"))
    if response.status_code >= 400 and action.path.startswith("/api/"):
        body = response.get_json()
        assert set(body) >= {"error", "message"}
        if expected == 404:
            # The same words whether the room exists or not: nothing to probe.
            assert body["error"] == "not_found"


def test_the_table_covers_every_room_and_message_route(app: Flask) -> None:
    covered = {
        (action.method, action.path.split("?")[0])
        for action, _ in MATRIX
        if isinstance(action, Http)
    }
    covered_rules = set()
    for method, path in covered:
        for name in ("group", "direct", "nowhere"):
            path = path.replace("{" + name + "}", "<uuid:room_id>")
        path = path.replace("{message}", "<int:message_id>").replace("999999", "<int:message_id>")
        covered_rules.add((method, path))
    missing = []
    for rule in app.url_map.iter_rules():
        if "room_id" not in rule.arguments and "message_id" not in rule.arguments:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) not in covered_rules:
                missing.append(f"{method} {rule.rule}")
    # The join form takes the room from its body; the room page's join link is above.
    missing = [entry for entry in missing if entry != "POST /rooms/join"]
    assert not missing, f"add these to MATRIX: {missing}"


def test_the_table_covers_every_socket_event() -> None:
    events = {
        name.removeprefix("on_")
        for name in vars(ChatNamespace)
        if name.startswith("on_") and name not in {"on_connect", "on_disconnect"}
    }
    covered = {action.event for action, _ in MATRIX if isinstance(action, Socket)}
    assert events <= covered, f"add these socket events to MATRIX: {sorted(events - covered)}"


def test_search_finds_a_room_s_messages_for_its_members_only(world: World) -> None:
    """Search takes the room from the query, or searches every room: members only, both ways."""
    found = {}
    for role in ("stranger", "member", "author"):
        response = world.users[role].call("GET", "/api/search?q=author")
        assert response.status_code == 200
        found[role] = [hit["message"]["room_id"] for hit in response.get_json()["results"]]
    assert world.ids["group"] not in found["stranger"]
    assert world.ids["group"] in found["member"] and world.ids["group"] in found["author"]
