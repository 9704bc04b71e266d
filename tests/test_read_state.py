"""Read state, typing and presence: what makes a room list feel live."""

from __future__ import annotations

import uuid

import pytest

from .support import TRANSPORTS, wait_until


def _room(user, room_id: str) -> dict:
    return user.call("GET", f"/api/rooms/{room_id}").get_json()


def test_unread_counts_others_messages_and_marking_read_clears_them(make_user) -> None:
    owner, reader = make_user("Owner"), make_user("Reader")
    room = owner.create_room(member_ids=[reader.id])
    for n in range(3):
        owner.post_message(room["id"], f"news {n}")
    reader.post_message(room["id"], "my own reply")
    seen = _room(reader, room["id"])
    assert seen["unread_count"] == 3, "one's own messages are never unread"
    assert seen["last_message"]["body"] == "my own reply"
    assert _room(owner, room["id"])["unread_count"] == 1

    response = reader.call("POST", f"/api/rooms/{room['id']}/read", json={"seq": 2})
    assert response.status_code == 204
    assert _room(reader, room["id"])["unread_count"] == 1
    listed = reader.call("GET", "/api/rooms").get_json()["rooms"]
    assert listed[0]["unread_count"] == 1, "the list and the room agree"

    reader.call("POST", f"/api/rooms/{room['id']}/read", json={"seq": 1})
    assert _room(reader, room["id"])["last_read_seq"] == 2, "the marker never moves back"
    reader.call("POST", f"/api/rooms/{room['id']}/read", json={"seq": 999})
    assert _room(reader, room["id"])["last_read_seq"] == 4, "clamped to the last message"
    assert _room(reader, room["id"])["unread_count"] == 0


def test_deleted_messages_are_not_unread_and_joiners_start_with_nothing_unread(make_user) -> None:
    owner, reader, late = make_user(), make_user(), make_user()
    room = owner.create_room(member_ids=[reader.id])
    message = owner.post_message(room["id"], "oops")
    owner.call("DELETE", f"/api/messages/{message['id']}")
    assert _room(reader, room["id"])["unread_count"] == 0
    owner.post_message(room["id"], "history")
    late.call("POST", f"/api/rooms/{room['id']}/join")
    assert _room(late, room["id"])["unread_count"] == 0


def test_read_input_is_validated_and_members_only(make_user) -> None:
    owner, stranger = make_user(), make_user()
    room = owner.create_room()
    path = f"/api/rooms/{room['id']}/read"
    for payload in [{}, {"seq": -1}, {"seq": "3"}, {"seq": None}, {"seq": 1.5}]:
        assert owner.call("POST", path, json=payload).status_code == 400, payload
    assert stranger.call("POST", path, json={"seq": 1}).status_code == 404
    assert owner.call("POST", f"/api/rooms/{uuid.uuid4()}/read", json={"seq": 1}).status_code == 404


@pytest.mark.server
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_mark_read_reaches_the_readers_other_tabs_only(make_api_user, transport: str) -> None:
    owner, reader = make_api_user("Owner"), make_api_user("Reader")
    room = owner.create_room(member_ids=[reader.id])
    tab_one, tab_two = reader.socket(transport), reader.socket(transport)
    owner_socket = owner.socket(transport)
    owner.post(room["id"], "read me")
    ack = tab_one.emit_ack("mark_read", {"room_id": room["id"], "seq": 1})
    assert ack == {"ok": True, "seq": 1}
    assert tab_two.wait_for("read") == {"room_id": room["id"], "seq": 1}
    # Barrier: the owner's socket gets this message after any read event it would have had.
    owner.post(room["id"], "barrier")
    owner_socket.wait_for("message", lambda m: m["body"] == "barrier")
    assert owner_socket.received("read") == []
    for payload in [{}, {"room_id": room["id"]}, {"room_id": room["id"], "seq": "1"}]:
        assert tab_one.emit_ack("mark_read", payload)["error"] == "invalid"


@pytest.mark.server
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_typing_reaches_the_other_members_not_the_typist(make_api_user, transport: str) -> None:
    owner, reader, stranger = make_api_user("Owner"), make_api_user("Reader"), make_api_user()
    room = owner.create_room(member_ids=[reader.id])
    owner_socket, reader_socket = owner.socket(transport), reader.socket(transport)
    stranger_socket = stranger.socket(transport)
    assert owner_socket.emit_ack("typing", {"room_id": room["id"]}) == {"ok": True}
    event = reader_socket.wait_for("typing")
    assert event == {"room_id": room["id"], "user_id": owner.id, "display_name": "Owner"}
    refused = stranger_socket.emit_ack("typing", {"room_id": room["id"]})
    assert refused["ok"] is False and refused["error"] == "not_found"
    owner.post(room["id"], "barrier")
    owner_socket.wait_for("message", lambda m: m["body"] == "barrier")
    assert owner_socket.received("typing") == [], "the typist is not told about itself"


@pytest.mark.server
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_presence_follows_a_users_first_and_last_socket(make_api_user, transport: str) -> None:
    watcher, friend = make_api_user("Watcher"), make_api_user("Friend")
    watcher.create_room(member_ids=[friend.id])
    watcher_socket = watcher.socket(transport)
    first = friend.socket(transport)

    def friend_states() -> list[bool]:
        """The friend's states in the batches the watcher heard (its own are in them too)."""
        return [
            user["online"]
            for batch in watcher_socket.received("presence")
            for user in batch["users"]
            if user["user_id"] == friend.id
        ]

    wait_until(lambda: friend_states() == [True])
    second = friend.socket(transport)
    second.disconnect()
    first.disconnect()
    wait_until(lambda: friend_states() != [True])
    assert friend_states() == [True, False], (
        "one arrival and one departure: a second tab is neither"
    )


@pytest.mark.server
def test_a_crowd_arriving_is_told_in_a_few_batches_not_one_event_each(make_api_user) -> None:
    """n members connecting must not cost n² packets: arrivals are batched per interval."""
    watcher = make_api_user("Watcher")
    crowd = [make_api_user(f"Member {number}") for number in range(16)]
    watcher.create_room("Crowd", member_ids=[member.id for member in crowd])
    watcher_socket = watcher.socket()
    for member in crowd:
        member.socket()

    def seen_online() -> set[str]:
        return {
            user["user_id"]
            for batch in watcher_socket.received("presence")
            for user in batch["users"]
            if user["online"]
        }

    wait_until(lambda: {member.id for member in crowd} <= seen_online())
    batches = watcher_socket.received("presence")
    assert len(batches) <= len(crowd) // 2, f"{len(batches)} presence events for 16 arrivals"
