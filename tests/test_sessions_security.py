"""Sessions and passwords: cookie flags, fixation, the password rules and the session epoch.

Flask's session is a signed cookie: the server cannot delete a copy someone kept.
What these tests pin down is what the service does about that: a login starts a
new session, and a password change makes every older copy (and remember-me
cookie) worthless through the user's session epoch, while the login that changed
it, its open sockets included, carries on.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from chat import create_app
from chat.extensions import db
from chat.models import User
from chat.services import accounts, passwords

from .conftest import InProcessUser
from .support import PASSWORD, TRANSPORTS, ApiUser, ServerProcess, unique_email, wait_until

NEW_PASSWORD = "another long enough password"


def _set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header of a response, by cookie name (the whole header line)."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        found[name] = header
    return found


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_session(app: Flask, value: str) -> FlaskClient:
    """A fresh client that holds a copy of someone's session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", value)
    return copy


def _change_password(user: InProcessUser, current: str = PASSWORD, new: str = NEW_PASSWORD):
    return user.call(
        "POST",
        "/api/me/password",
        json={"current_password": current, "new_password": new},
    )


def _login(app: Flask, email: str, password: str = PASSWORD, remember: bool = False):
    user = InProcessUser(app.test_client())
    response = user.call(
        "POST", "/api/auth/login", json={"email": email, "password": password, "remember": remember}
    )
    return user, response


# ---- cookies ---------------------------------------------------------------------


def test_session_and_remember_cookies_are_httponly_and_samesite(app: Flask, make_user) -> None:
    email = unique_email()
    make_user(email=email)
    _user, response = _login(app, email, remember=True)
    cookies = _set_cookies(response)
    for name in ("session", "remember_token"):
        flags = cookies[name].lower()
        assert "httponly" in flags and "samesite=lax" in flags, cookies[name]
        assert "secure" not in flags, "development and tests run on plain HTTP"


def test_production_cookies_are_secure(tmp_path: Path, migrated_template: Path) -> None:
    database = tmp_path / "prod.sqlite3"
    shutil.copy(migrated_template, database)
    app = create_app(
        "production",
        SECRET_KEY="production-test-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        RATELIMIT_ENABLED=False,
        RATELIMIT_STORAGE_URI="memory://",
        PASSWORD_HASH_TIME_COST=1,
        PASSWORD_HASH_MEMORY_KIB=8,
    )
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    client = app.test_client()
    https = "https://chat.example"
    token = client.get("/api/csrf", base_url=https).get_json()["csrf_token"]
    response = client.post(
        "/api/auth/register",
        base_url=https,
        json={"email": unique_email(), "password": PASSWORD, "display_name": "P"},
        headers={"X-CSRFToken": token, "Referer": https + "/register"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    flags = _set_cookies(response)["session"].lower()
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    with app.app_context():
        db.engine.dispose()


# ---- fixation ----------------------------------------------------------------------


def test_login_starts_a_new_session_and_the_old_cookie_is_not_logged_in(
    app: Flask, make_user
) -> None:
    email = unique_email()
    make_user(email=email)
    user = InProcessUser(app.test_client())
    before = _session_cookie(user.client)  # the anonymous session holding the CSRF token
    response = user.call("POST", "/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    after = _session_cookie(user.client)
    assert after != before
    # Someone who planted or copied the pre-login cookie is not logged in by the login.
    assert _with_session(app, before).get("/api/me").status_code == 401
    assert _with_session(app, after).get("/api/me").status_code == 200
    # The CSRF token survives the login (the page that logged in keeps working).
    assert user.call("POST", "/api/rooms", json={"title": "after login"}).status_code == 201


def test_logout_ends_the_session_in_that_browser(app: Flask, make_user) -> None:
    alice = make_user()
    assert alice.call("POST", "/api/auth/logout").status_code == 204
    assert alice.client.get("/api/me").status_code == 401


# ---- password rules ------------------------------------------------------------------


@pytest.mark.parametrize("password", ["password", "12345678", "Password1", "  qwertyuiop  "])
def test_common_passwords_are_refused_at_registration(client: FlaskClient, password: str) -> None:
    response = InProcessUser(client).call(
        "POST",
        "/api/auth/register",
        json={"email": unique_email(), "password": password, "display_name": "C"},
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] in {"common_password", "invalid"} and body["message"]


def test_common_password_refused_on_the_register_form(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/register").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/register",
        data={
            "csrf_token": token,
            "display_name": "C",
            "email": unique_email(),
            "password": "iloveyou123",
        },
    )
    assert response.status_code == 400
    assert "most common passwords" in response.get_data(as_text=True)


def test_the_shipped_list_is_large_and_holds_only_candidates(app: Flask) -> None:
    common = passwords.common_passwords()
    assert len(common) > 8000
    assert all(len(entry) >= 8 for entry in common)
    assert not passwords.is_common(PASSWORD)


def test_production_hash_parameters_are_at_least_owasp(
    tmp_path: Path, migrated_template: Path
) -> None:
    """The defaults, not the cheap test settings: argon2id, m = 19 MiB, t = 2, p = 1."""
    database = tmp_path / "prod.sqlite3"
    shutil.copy(migrated_template, database)
    app = create_app(
        "production",
        SECRET_KEY="production-test-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        RATELIMIT_STORAGE_URI="memory://",
    )
    with app.app_context():
        stored = accounts.hash_password("some long password")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), stored
    assert PasswordHasher().verify(stored, "some long password")


def test_login_rehashes_when_the_parameters_are_raised(
    tmp_path: Path, migrated_template: Path, app: Flask, make_user
) -> None:
    email = unique_email()
    make_user(email=email)
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    stronger = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database,
        PASSWORD_HASH_TIME_COST=2,
        PASSWORD_HASH_MEMORY_KIB=64,
    )
    with stronger.app_context():
        before = db.session.scalar(select(User.password_hash).where(User.email == email))
        assert "m=8,t=1" in before
        accounts.authenticate(email, PASSWORD)
        db.session.remove()
        after = db.session.scalar(select(User.password_hash).where(User.email == email))
        db.engine.dispose()
    assert after.startswith("$argon2id$v=19$m=64,t=2,p=1$")
    assert PasswordHasher().verify(after, PASSWORD)


def test_an_unknown_email_costs_one_hash_verification_like_a_known_one(
    app: Flask, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing measurement: count the argon2 verifications each answer took."""
    email = unique_email()
    make_user(email=email)
    calls: list[str] = []
    original = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    anonymous = InProcessUser(app.test_client())
    answers = {}
    for label, address in [("known", email), ("unknown", unique_email())]:
        calls.clear()
        response = anonymous.call(
            "POST", "/api/auth/login", json={"email": address, "password": "not the password"}
        )
        answers[label] = (response.status_code, response.get_json(), len(calls))
        # The same parameters, so the same cost: a dummy hash, not a cheap shortcut.
        assert calls and all(h.startswith("$argon2id$v=19$m=8,t=1,p=1$") for h in calls)
    assert answers["known"] == answers["unknown"]
    assert answers["known"][:2] == (
        401,
        {"error": "invalid_credentials", "message": "Wrong email or password."},
    )


# ---- changing the password -------------------------------------------------------------


def test_password_change_signs_out_other_sessions_and_keeps_this_one(app: Flask, make_user) -> None:
    email = unique_email()
    here = make_user(email=email)
    there, _ = _login(app, email)
    remembered, _ = _login(app, email, remember=True)
    stolen_copy = _session_cookie(there.client)
    remember_cookie = remembered.client.get_cookie("remember_token").value
    assert there.client.get("/api/me").status_code == 200

    response = _change_password(here)
    assert response.status_code == 204, response.get_data(as_text=True)

    assert here.client.get("/api/me").status_code == 200, "this session stays logged in"
    assert here.call("POST", "/api/rooms", json={"title": "still me"}).status_code == 201
    assert there.client.get("/api/me").status_code == 401
    assert _with_session(app, stolen_copy).get("/api/me").status_code == 401
    assert remembered.client.get("/api/me").status_code == 401
    # The remember-me cookie alone (a browser restart) no longer logs in either.
    restarted = app.test_client()
    restarted.set_cookie("remember_token", remember_cookie)
    assert restarted.get("/api/me").status_code == 401

    assert _login(app, email)[1].status_code == 401
    assert _login(app, email, NEW_PASSWORD)[1].status_code == 200


def test_password_change_keeps_a_remembered_login_remembered(app: Flask, make_user) -> None:
    email = unique_email()
    make_user(email=email)
    remembered, _ = _login(app, email, remember=True)
    response = _change_password(remembered)
    assert response.status_code == 204
    renewed = remembered.client.get_cookie("remember_token")
    assert renewed is not None
    restarted = app.test_client()
    restarted.set_cookie("remember_token", renewed.value)
    assert restarted.get("/api/me").status_code == 200


def test_password_change_needs_the_current_password_and_a_good_new_one(make_user) -> None:
    alice = make_user()
    wrong = _change_password(alice, current="not my password")
    assert wrong.status_code == 403 and wrong.get_json()["error"] == "wrong_password"
    common = _change_password(alice, new="password123")
    assert common.status_code == 400 and common.get_json()["error"] == "common_password"
    short = _change_password(alice, new="short")
    assert short.status_code == 400 and short.get_json()["error"] == "invalid"
    missing = alice.call("POST", "/api/me/password", json={"new_password": NEW_PASSWORD})
    assert missing.status_code == 400
    assert alice.client.get("/api/me").status_code == 200
    assert _change_password(alice).status_code == 204


def test_password_change_needs_login_and_csrf(app: Flask, make_user) -> None:
    anonymous = InProcessUser(app.test_client())
    assert _change_password(anonymous).status_code == 401
    alice = make_user()
    no_token = alice.client.post(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert no_token.status_code == 400 and no_token.get_json()["error"] == "csrf_failed"


def test_session_ids_carry_the_epoch_and_old_style_ids_mean_epoch_zero(
    app: Flask, make_user
) -> None:
    alice = make_user()
    with app.app_context():
        user = db.session.get(User, uuid.UUID(alice.id))
        assert user.get_id() == f"{alice.id}:0"
        assert accounts.load_user(alice.id) is user
        assert accounts.load_user(f"{alice.id}:1") is None
        assert accounts.load_user("not-a-uuid:0") is None
        assert accounts.load_user(f"{alice.id}:x") is None


# ---- sockets of the sessions (a real server) --------------------------------------------


def _login_api(base_url: str, email: str) -> ApiUser:
    user = ApiUser(base_url)
    response = user.request("POST", "/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    user.profile = response.json()
    return user


@pytest.fixture
def two_logins(server: ServerProcess) -> Iterator[tuple[ApiUser, ApiUser]]:
    email = unique_email()
    here = ApiUser(server.base_url).register("Alice", email=email)
    there = _login_api(here.base_url, email)
    yield here, there
    here.close()
    there.close()


@pytest.mark.server
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_password_change_closes_the_other_sessions_sockets_only(
    two_logins: tuple[ApiUser, ApiUser], make_api_user, transport: str
) -> None:
    here, there = two_logins
    bob = make_api_user("Bob")
    room = here.create_room(member_ids=[bob.id])
    here_socket, there_socket = here.socket(transport), there.socket(transport)
    bob_socket = bob.socket(transport)

    response = here.request(
        "POST",
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text

    ended = there_socket.wait_for("session_ended")
    assert ended == {"reason": "password_changed"}
    wait_until(lambda: not there_socket.sio.connected, timeout=5)
    assert there.request("GET", "/api/me").status_code == 401
    # This login's socket was not told to go, and still acts as the user.
    ack = here_socket.send(room["id"], "after the change")
    assert ack["ok"] is True, ack
    bob_socket.wait_for("message", lambda m: m["body"] == "after the change")
    assert "session_ended" not in [name for name, _ in here_socket.events]
    # A new socket of the old session is refused; one of this session is accepted.
    with pytest.raises(Exception):  # noqa: B017 - socketio's ConnectionError
        there.socket(transport)
    assert here.socket(transport).sio.connected


def test_the_password_change_is_documented() -> None:
    api = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    assert "/api/me/password" in api and "password_changed" in api
