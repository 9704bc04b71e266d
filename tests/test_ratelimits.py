"""Rate limits: which attempts are counted, by what key, and how a refusal looks.

The rest of the suite runs with the limits off (it makes many users from one
address); these tests turn them on with small numbers. In-process for the HTTP
routes, and a real server of their own for what the socket shares with HTTP.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
import socketio
from flask import Flask
from flask.testing import FlaskClient

from chat import create_app
from chat.extensions import db

from .conftest import InProcessUser
from .images import png
from .support import PASSWORD, ApiUser, ServerProcess, unique_email

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_LOGIN_PER_ADDRESS": "6 per minute",
    "RATELIMIT_LOGIN_PER_ACCOUNT": "3 per minute",
    "RATELIMIT_REGISTER_PER_ADDRESS": "4 per minute",
    "RATELIMIT_ROOMS_PER_USER": "3 per minute",
    "RATELIMIT_AVATARS_PER_USER": "2 per minute",
    "RATELIMIT_MESSAGES_PER_USER": "5 per minute",
}


@pytest.fixture
def limited_app(tmp_path: Path, migrated_template: Path) -> Iterator[Flask]:
    database = tmp_path / "chat.sqlite3"
    shutil.copy(migrated_template, database)
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        WTF_CSRF_ENABLED=True,
        UPLOAD_FOLDER=str(tmp_path / "uploads"),
        **LIMITS,
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def _from(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def _assert_rate_limited(response) -> int:
    """A 429 as the API promises it: JSON error, ``retry_after``, and the same header."""
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "rate_limited" and body["message"]
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 60
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body["retry_after"]


def _register(app: Flask, address: str = "127.0.0.1", email: str | None = None):
    user = InProcessUser(app.test_client())
    email = email or unique_email()
    response = user.call(
        "POST",
        "/api/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": "R"},
        **_from(address),
    )
    return user, response


def _form_token(client: FlaskClient, path: str, field: str = "csrf_token") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(rf'name="{field}" type="hidden" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_logins_from_one_address_are_limited_across_form_and_api(limited_app: Flask) -> None:
    _user, response = _register(limited_app, "10.0.0.9")
    email = response.get_json()["email"]
    attacker = InProcessUser(limited_app.test_client())
    # Different accounts (none exists), one address: the per-address budget of 6.
    for n in range(4):
        wrong = attacker.call(
            "POST",
            "/api/auth/login",
            json={"email": f"nobody-{n}@example.org", "password": "not it at all"},
            **_from("10.0.0.1"),
        )
        assert wrong.status_code == 401
    token = _form_token(attacker.client, "/login")
    for n in range(2):
        form = attacker.client.post(
            "/login",
            data={"csrf_token": token, "email": f"form-{n}@example.org", "password": "nope"},
            **_from("10.0.0.1"),
        )
        assert form.status_code == 401
    # The seventh attempt is refused before the password is even checked, right or wrong.
    refused = attacker.call(
        "POST", "/api/auth/login", json={"email": email, "password": PASSWORD}, **_from("10.0.0.1")
    )
    _assert_rate_limited(refused)
    page = attacker.client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        **_from("10.0.0.1"),
    )
    assert page.status_code == 429 and "Retry-After" in page.headers
    # Showing the form is not an attempt; another address is not affected.
    assert attacker.client.get("/login", **_from("10.0.0.1")).status_code == 200
    other = InProcessUser(limited_app.test_client())
    ok = other.call(
        "POST", "/api/auth/login", json={"email": email, "password": PASSWORD}, **_from("10.0.0.2")
    )
    assert ok.status_code == 200


def test_failed_logins_against_one_account_are_limited_whatever_the_address(
    limited_app: Flask,
) -> None:
    _user, response = _register(limited_app, "10.1.0.1")
    email = response.get_json()["email"]
    # Successful logins do not count against the account.
    for n in range(4):
        good = InProcessUser(limited_app.test_client()).call(
            "POST",
            "/api/auth/login",
            json={"email": email, "password": PASSWORD},
            **_from(f"10.1.1.{n}"),
        )
        assert good.status_code == 200
    for n in range(3):
        bad = InProcessUser(limited_app.test_client()).call(
            "POST",
            "/api/auth/login",
            json={"email": email.upper(), "password": "wrong password"},
            **_from(f"10.1.2.{n}"),
        )
        assert bad.status_code == 401
    refused = InProcessUser(limited_app.test_client()).call(
        "POST",
        "/api/auth/login",
        json={"email": email, "password": PASSWORD},
        **_from("10.1.3.1"),
    )
    _assert_rate_limited(refused)
    # Another account is not locked by it.
    _other, other = _register(limited_app, "10.1.0.2")
    ok = InProcessUser(limited_app.test_client()).call(
        "POST",
        "/api/auth/login",
        json={"email": other.get_json()["email"], "password": PASSWORD},
        **_from("10.1.3.1"),
    )
    assert ok.status_code == 200


def test_registrations_per_address_count_taken_emails_too(limited_app: Flask) -> None:
    email = unique_email()
    assert _register(limited_app, "10.2.0.1", email)[1].status_code == 201
    assert _register(limited_app, "10.2.0.1", email)[1].status_code == 409
    assert _register(limited_app, "10.2.0.1")[1].status_code == 201
    client = limited_app.test_client()
    token = _form_token(client, "/register")
    form = client.post(
        "/register",
        data={
            "csrf_token": token,
            "display_name": "Form",
            "email": unique_email(),
            "password": PASSWORD,
        },
        **_from("10.2.0.1"),
    )
    assert form.status_code == 302
    _assert_rate_limited(_register(limited_app, "10.2.0.1")[1])
    assert _register(limited_app, "10.2.0.2")[1].status_code == 201


def test_room_creation_is_limited_per_user_across_form_and_api(limited_app: Flask) -> None:
    alice, _ = _register(limited_app, "10.3.0.1")
    bob, _ = _register(limited_app, "10.3.0.1")
    for title in ("one", "two"):
        response = alice.call("POST", "/api/rooms", json={"title": title})
        assert response.status_code == 201
    token = _form_token(alice.client, "/", "create-csrf_token")
    form = alice.client.post("/rooms", data={"create-csrf_token": token, "create-title": "three"})
    assert form.status_code == 302
    _assert_rate_limited(alice.call("POST", "/api/rooms", json={"title": "four"}))
    page = alice.client.post("/rooms", data={"create-csrf_token": token, "create-title": "x"})
    assert page.status_code == 429
    assert bob.call("POST", "/api/rooms", json={"title": "bob's"}).status_code == 201
    rooms = alice.call("GET", "/api/rooms").get_json()["rooms"]
    assert sorted(room["title"] for room in rooms) == ["one", "three", "two"]


def test_avatar_uploads_are_limited_per_user(limited_app: Flask) -> None:
    alice, _ = _register(limited_app)
    for _ in range(2):
        response = alice.call(
            "POST",
            "/api/me/avatar",
            data={"avatar": (BytesIO(png()), "me.png")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200, response.get_data(as_text=True)
    _assert_rate_limited(
        alice.call(
            "POST",
            "/api/me/avatar",
            data={"avatar": (BytesIO(png()), "me.png")},
            content_type="multipart/form-data",
        )
    )


def test_message_sends_over_http_are_limited_and_a_refusal_stores_nothing(
    limited_app: Flask,
) -> None:
    alice, _ = _register(limited_app)
    room = alice.create_room()
    for n in range(5):
        response = alice.call("POST", f"/api/rooms/{room['id']}/messages", json={"body": f"m{n}"})
        assert response.status_code == 201
    _assert_rate_limited(
        alice.call("POST", f"/api/rooms/{room['id']}/messages", json={"body": "too many"})
    )
    history = alice.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert [m["body"] for m in history] == [f"m{n}" for n in range(5)]


def test_limits_are_off_when_disabled(app: Flask) -> None:
    """The suite's own app: RATELIMIT_ENABLED is off in TestingConfig unless asked for."""
    assert app.config["RATELIMIT_ENABLED"] is False
    user = InProcessUser(app.test_client())
    for _ in range(30):
        response = user.call(
            "POST", "/api/auth/login", json={"email": "x@example.org", "password": "wrong one"}
        )
        assert response.status_code == 401


# ---- a real server: the socket shares the message budget with HTTP --------------


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {key: str(value).lower() if value is True else value for key, value in LIMITS.items()}
    env.update(
        RATELIMIT_REGISTER_PER_ADDRESS="100 per minute",
        RATELIMIT_ROOMS_PER_USER="100 per minute",
        SOCKETS_PER_USER_MAX="3",
    )
    process = ServerProcess(tmp_path_factory.mktemp("limited"), env=env)
    process.migrate()
    process.start()
    yield process
    process.stop()


@pytest.mark.server
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socket_and_http_sends_share_one_budget(
    limited_server: ServerProcess, transport: str
) -> None:
    alice = ApiUser(limited_server.base_url).register("Alice")
    try:
        room = alice.create_room()
        sock = alice.socket(transport)
        for n in range(3):
            assert alice.post(room["id"], f"http {n}").status_code == 201
        for n in range(2):
            assert sock.send(room["id"], f"socket {n}")["ok"] is True
        refused = sock.send(room["id"], "sixth", client_id="sixth-1")
        assert refused["ok"] is False and refused["error"] == "rate_limited"
        assert refused["message"] and 1 <= refused["retry_after"] <= 60
        over_http = alice.post(room["id"], "seventh")
        assert over_http.status_code == 429
        assert over_http.headers["Retry-After"] == str(over_http.json()["retry_after"])
        assert len(alice.history(room["id"])) == 5
        # The socket is still open and usable for what is not limited.
        assert sock.emit_ack("sync", {"rooms": {room["id"]: 0}})["ok"] is True
    finally:
        alice.close()


@pytest.mark.server
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_one_socket_more_than_the_cap_is_refused_with_a_reason(
    limited_server: ServerProcess, transport: str
) -> None:
    alice = ApiUser(limited_server.base_url).register("Alice")
    try:
        for _ in range(3):
            alice.socket(transport)
        extra = socketio.Client(reconnection=False)
        reasons: list = []
        extra.on("connect_error", reasons.append)
        cookies = "; ".join(f"{c.name}={c.value}" for c in alice.http.cookies)
        with pytest.raises(socketio.exceptions.ConnectionError):
            extra.connect(
                limited_server.base_url,
                transports=[transport],
                headers={"Cookie": cookies},
                wait_timeout=5,
            )
        assert reasons and reasons[0]["message"] == "too_many_connections"
        assert reasons[0]["data"]["limit"] == 3
        # Closing one makes room for another.
        alice.sockets.pop().disconnect()
        from .support import wait_until

        wait_until(lambda: _connects(alice, transport), timeout=5)
    finally:
        alice.close()


def _connects(user: ApiUser, transport: str) -> bool:
    try:
        user.socket(transport)
    except socketio.exceptions.ConnectionError:
        return False
    return True


def test_rate_limited_ack_shape_is_documented() -> None:
    """The docs name the fields a client relies on (a guard against silent renames)."""
    api = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    assert "rate_limited" in api and "retry_after" in api and "Retry-After" in api
