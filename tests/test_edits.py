"""Editing and deleting messages, and the change feed that lets clients catch up on both."""

from __future__ import annotations

import pytest

from .support import TRANSPORTS

# The change counter and the row lock of edits are database rules: pinned on both.
pytestmark = pytest.mark.both_databases


def test_author_edits_and_deletes_and_others_cannot(make_user) -> None:
    author, member, stranger = make_user("Author"), make_user("Member"), make_user("Stranger")
    room = author.create_room(member_ids=[member.id])
    message = author.post_message(room["id"], "first draft")
    path = f"/api/messages/{message['id']}"

    assert member.call("PATCH", path, json={"body": "hijack"}).status_code == 403
    assert member.call("DELETE", path).get_json()["error"] == "not_author"
    assert stranger.call("PATCH", path, json={"body": "hijack"}).status_code == 404
    assert stranger.call("DELETE", path).status_code == 404
    assert (
        stranger.call("DELETE", "/api/messages/999999").get_json()
        == stranger.call("DELETE", path).get_json()
    ), "a message in a foreign room looks exactly like a missing one"

    edited = author.call("PATCH", path, json={"body": "  final text  "})
    assert edited.status_code == 200
    assert edited.get_json()["body"] == "final text"
    assert edited.get_json()["edited_at"]
    assert edited.get_json()["change_seq"] > message["change_seq"]
    assert edited.get_json()["seq"] == message["seq"], "an edit keeps the message's place"

    deleted = author.call("DELETE", path)
    assert deleted.status_code == 200
    assert deleted.get_json()["deleted"] is True
    assert deleted.get_json()["body"] == ""
    history = author.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert [(m["deleted"], m["body"]) for m in history] == [(True, "")]
    assert "final text" not in author.client.get(f"/rooms/{room['id']}").get_data(as_text=True)
    assert author.call("PATCH", path, json={"body": "back"}).status_code == 404


def test_bad_edits_are_refused_and_change_nothing(make_user) -> None:
    author = make_user()
    room = author.create_room()
    message = author.post_message(room["id"], "keep me")
    path = f"/api/messages/{message['id']}"
    for payload in [{}, {"body": ""}, {"body": "  "}, {"body": "x" * 4001}, {"body": 1}]:
        assert author.call("PATCH", path, json=payload).status_code == 400, payload
    assert author.call("PATCH", "/api/messages/not-a-number", json={"body": "x"}).status_code == 404
    history = author.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert history[0]["body"] == "keep me" and history[0]["edited_at"] is None


def test_change_feed_covers_inserts_edits_and_deletes_in_order(make_user) -> None:
    author = make_user()
    room = author.create_room()
    a = author.post_message(room["id"], "a")
    b = author.post_message(room["id"], "b")
    cursor = author.call("GET", f"/api/rooms/{room['id']}").get_json()["last_change"]
    assert cursor == 2
    author.call("PATCH", f"/api/messages/{a['id']}", json={"body": "a2"})
    c = author.post_message(room["id"], "c")
    author.call("DELETE", f"/api/messages/{b['id']}")

    feed = author.call("GET", f"/api/rooms/{room['id']}/changes?since={cursor}").get_json()
    assert [(m["id"], m["body"], m["deleted"]) for m in feed["messages"]] == [
        (a["id"], "a2", False),
        (c["id"], "c", False),
        (b["id"], "", True),
    ]
    assert feed["last_change"] == 5 and feed["has_more"] is False
    paged = author.call("GET", f"/api/rooms/{room['id']}/changes?since=0&limit=2").get_json()
    assert paged["has_more"] is True and len(paged["messages"]) == 2
    for query in ["", "?since=-1", "?since=x", "?since=0&limit=0", "?since=0&limit=501"]:
        response = author.call("GET", f"/api/rooms/{room['id']}/changes{query}")
        assert response.status_code == 400, query
    stranger = make_user()
    assert stranger.call("GET", f"/api/rooms/{room['id']}/changes?since=0").status_code == 404


@pytest.mark.server
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_edits_and_deletes_are_pushed_and_sync_reports_them(make_api_user, transport: str) -> None:
    author, reader = make_api_user("Author"), make_api_user("Reader")
    room = author.create_room(member_ids=[reader.id])
    other = author.create_room("other")
    author_socket, reader_socket = author.socket(transport), reader.socket(transport)
    author_other_tab = author.socket(transport)
    sent = author_socket.send(room["id"], "original")["message"]

    edited = author_socket.emit_ack("edit_message", {"message_id": sent["id"], "body": "changed"})
    assert edited["ok"] and edited["message"]["body"] == "changed"
    pushed = reader_socket.wait_for("message_updated", lambda m: m["id"] == sent["id"])
    assert pushed == edited["message"]

    refused = reader_socket.emit_ack("delete_message", {"message_id": sent["id"]})
    assert refused["ok"] is False and refused["error"] == "not_author"
    for payload in [{}, {"message_id": "1"}, {"message_id": 0}, {"message_id": sent["id"]}]:
        ack = author_socket.emit_ack("edit_message", payload)
        assert ack["ok"] is False and ack["error"] == "invalid", payload

    deleted = author_socket.emit_ack("delete_message", {"message_id": sent["id"]})
    assert deleted["ok"] and deleted["message"]["deleted"]
    gone = reader_socket.wait_for("message_deleted", lambda m: m["id"] == sent["id"])
    assert gone["body"] == "" and gone["deleted"] is True

    sync = reader_socket.emit_ack("sync", {"rooms": {room["id"]: 1, other["id"]: 0}})
    assert sync["ok"] is True
    assert sync["gone"] == [other["id"]], "a room the reader is not in is reported, not read"
    assert [(m["id"], m["deleted"]) for m in sync["rooms"][room["id"]]["messages"]] == [
        (sent["id"], True)
    ]
    assert sync["rooms"][room["id"]]["last_change"] == 3
    for payload in [
        None,
        {},
        {"rooms": []},
        {"rooms": {"not-a-uuid": 0}},
        {"rooms": {room["id"]: -1}},
    ]:
        ack = reader_socket.emit_ack("sync", payload)
        assert ack["ok"] is False and ack["error"] == "invalid", payload

    # The author's other tab hears of both; the socket that made them has its acks only.
    assert author_other_tab.wait_for("message_updated") == edited["message"]
    assert author_other_tab.wait_for("message_deleted") == deleted["message"]
    marker = reader.post(room["id"], "after the changes").json()
    author_socket.wait_for("message", lambda m: m["id"] == marker["id"])
    assert author_socket.received("message_updated") == []
    assert author_socket.received("message_deleted") == []
