"""Text the database cannot store (NUL, unpaired surrogates) is a 400, never a 500.

JSON's ``\\u`` escapes carry both: ``"\\u0000"`` (PostgreSQL's ``text`` cannot hold it)
and ``"\\ud800"`` (no UTF-8 encoding: SQLite's driver, argon2 and PostgreSQL refuse
it). Every way text comes in (the JSON API, the socket events, the HTML forms) is
checked by the same rule (``chat/text.py``), and nothing is stored.
"""

from __future__ import annotations

import json
import uuid

import pytest

from chat.text import is_storable_text

from .conftest import InProcessUser
from .support import unique_email

pytestmark = pytest.mark.both_databases

# Raw JSON string literals: the escapes must reach the server as they are.
NUL = '"a\\u0000b"'
LONE_SURROGATE = '"a\\ud800b"'
NOT_TEXT = [pytest.param(NUL, id="nul"), pytest.param(LONE_SURROGATE, id="lone-surrogate")]


def _send_raw(user, method: str, path: str, raw_json: str):
    return user.client.open(
        path,
        method=method,
        data=raw_json,
        headers={"X-CSRFToken": user.csrf, "Content-Type": "application/json"},
    )


def _assert_invalid(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid" and body["message"]


def test_the_rule() -> None:
    assert is_storable_text("plain, accentué, 漢字, emoji 🎉")
    assert not is_storable_text("a\x00b")
    assert not is_storable_text("a\ud800b")
    assert is_storable_text(json.loads('"\\ud83c\\udf89"'))  # a surrogate *pair* is text


@pytest.mark.parametrize("bad", NOT_TEXT)
def test_message_room_and_profile_text_is_refused_and_nothing_is_stored(make_user, bad) -> None:
    user = make_user("Writer")
    room = user.create_room("Kept")
    messages_url = f"/api/rooms/{room['id']}/messages"
    stored = _send_raw(user, "POST", messages_url, '{"body": "kept"}')
    assert stored.status_code == 201
    message_id = stored.get_json()["id"]

    _assert_invalid(_send_raw(user, "POST", messages_url, f'{{"body": {bad}}}'))
    _assert_invalid(_send_raw(user, "PATCH", f"/api/messages/{message_id}", f'{{"body": {bad}}}'))
    _assert_invalid(_send_raw(user, "POST", "/api/rooms", f'{{"title": {bad}}}'))
    _assert_invalid(_send_raw(user, "PATCH", "/api/me", f'{{"display_name": {bad}}}'))
    _assert_invalid(
        _send_raw(
            user,
            "POST",
            "/api/me/password",
            f'{{"current_password": "a long enough password", "new_password": {bad}}}',
        )
    )

    assert [m["body"] for m in user.call("GET", messages_url).get_json()["messages"]] == ["kept"]
    assert [r["title"] for r in user.call("GET", "/api/rooms").get_json()["rooms"]] == ["Kept"]
    assert user.call("GET", "/api/me").get_json()["display_name"] == "Writer"


@pytest.mark.parametrize("bad", NOT_TEXT)
def test_register_and_login_refuse_it(client, bad) -> None:
    anonymous = InProcessUser(client)
    email = unique_email()
    _assert_invalid(
        _send_raw(
            anonymous,
            "POST",
            "/api/auth/register",
            f'{{"email": "{email}", "password": {bad}, "display_name": "N"}}',
        )
    )
    _assert_invalid(
        _send_raw(
            anonymous,
            "POST",
            "/api/auth/register",
            f'{{"email": "{email}", "password": "a long enough password", "display_name": {bad}}}',
        )
    )
    _assert_invalid(
        _send_raw(
            anonymous, "POST", "/api/auth/login", f'{{"email": "{email}", "password": {bad}}}'
        )
    )
    # Nothing was registered: the address is still free.
    assert InProcessUser(client).register("Later", email=email).profile["display_name"] == "Later"


# An unpaired surrogate cannot even be sent in a URL or a form (they are UTF-8 on the
# wire); NUL can (``%00``).


def test_queries_refuse_nul(make_user) -> None:
    user = make_user("Searcher")
    _assert_invalid(user.call("GET", "/api/search", query_string={"q": "a\x00b"}))
    _assert_invalid(user.call("GET", "/api/users", query_string={"q": "a\x00b"}))


def test_html_forms_refuse_nul(make_user, client) -> None:
    user = make_user("Former")
    before = user.call("GET", "/api/rooms").get_json()["rooms"]
    response = user.client.post("/rooms", data={"csrf_token": user.csrf, "create-title": "a\x00b"})
    assert response.status_code == 400
    assert user.call("GET", "/api/rooms").get_json()["rooms"] == before

    email = unique_email()
    response = client.post(
        "/register",
        data={
            "csrf_token": InProcessUser(client).csrf,
            "display_name": "a\x00b",
            "email": email,
            "password": "a long enough password",
        },
    )
    assert response.status_code == 400
    assert client.get("/api/me").status_code == 401  # no account was made


@pytest.mark.server
@pytest.mark.parametrize("bad", NOT_TEXT)
def test_a_socket_send_of_it_is_refused_and_nothing_is_stored(make_api_user, bad) -> None:
    user = make_api_user("Socket writer")
    room = user.create_room("Socket room")
    sock = user.socket()
    ack = sock.send(room["id"], json.loads(bad), client_id=uuid.uuid4().hex)
    assert ack["ok"] is False and ack["error"] == "invalid"
    assert user.history(room["id"]) == []
