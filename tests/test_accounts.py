"""Accounts over the JSON API and the HTML forms: register, log in, log out, CSRF."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from chat.extensions import db
from chat.models import User

from .conftest import InProcessUser
from .support import unique_email

PASSWORD = "a long enough password"


def test_register_logs_in_and_me_returns_own_email(client: FlaskClient) -> None:
    user = InProcessUser(client)
    email = unique_email()
    response = user.call(
        "POST",
        "/api/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": " Mina "},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == email
    assert body["display_name"] == "Mina"
    assert set(body) == {"id", "email", "display_name", "avatar_url", "created_at"}
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.get_json()["id"] == body["id"]


def test_me_without_login_is_401_json(client: FlaskClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_email_is_unique_regardless_of_case(client: FlaskClient, app: Flask) -> None:
    email = unique_email()
    InProcessUser(client).register(email=email)
    other = InProcessUser(app.test_client())
    response = other.call(
        "POST",
        "/api/auth/register",
        json={"email": email.upper(), "password": PASSWORD, "display_name": "Copy"},
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "email_taken"


def test_password_is_stored_as_salted_argon2id(app: Flask, make_user) -> None:
    first = make_user(password=PASSWORD)
    second = make_user(password=PASSWORD)
    with app.app_context():
        hashes = [
            db.session.scalar(select(User.password_hash).where(User.id == uuid.UUID(user_id)))
            for user_id in (first.id, second.id)
        ]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1], "the same password must hash differently (salt)"
    assert PASSWORD not in hashes[0]


def test_login_answers_the_same_for_unknown_email_and_wrong_password(app: Flask, make_user) -> None:
    email = unique_email()
    make_user(email=email)
    anonymous = InProcessUser(app.test_client())
    wrong_password = anonymous.call(
        "POST", "/api/auth/login", json={"email": email, "password": "not the password"}
    )
    unknown_email = anonymous.call(
        "POST", "/api/auth/login", json={"email": unique_email(), "password": "not the password"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.get_json() == unknown_email.get_json()


def test_login_with_remember_sets_remember_cookie_and_logout_ends_session(
    app: Flask, make_user
) -> None:
    email = unique_email()
    make_user(email=email)
    client = app.test_client()
    user = InProcessUser(client)
    response = user.call(
        "POST",
        "/api/auth/login",
        json={"email": email.title(), "password": PASSWORD, "remember": True},
    )
    assert response.status_code == 200
    assert "remember_token=" in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get("/api/me").status_code == 200
    assert user.call("POST", "/api/auth/logout").status_code == 204
    assert client.get("/api/me").status_code == 401


def test_state_changing_request_without_csrf_token_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/api/auth/register",
        json={"email": unique_email(), "password": PASSWORD, "display_name": "NoToken"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "csrf_failed"
    assert response.get_json()["message"]


def test_register_validation_errors_are_400_with_field_messages(client: FlaskClient) -> None:
    user = InProcessUser(client)
    cases = [
        {"email": "not-an-email", "password": PASSWORD, "display_name": "x"},
        {"email": unique_email(), "password": "short", "display_name": "x"},
        {"email": unique_email(), "password": "x" * 1025, "display_name": "x"},
        {"email": unique_email(), "password": PASSWORD, "display_name": "   "},
        {"email": unique_email(), "password": PASSWORD, "display_name": "x" * 51},
        {"email": unique_email(), "password": PASSWORD},
        {"email": 12, "password": PASSWORD, "display_name": "x"},
        {"email": unique_email(), "password": PASSWORD, "display_name": "x", "admin": True},
    ]
    for payload in cases:
        response = user.call("POST", "/api/auth/register", json=payload)
        assert response.status_code == 400, payload
        body = response.get_json()
        assert body["error"] == "invalid" and body["message"], payload


def test_register_and_login_through_html_forms(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/register")
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    assert token, "the form carries a CSRF field"
    email = unique_email()
    response = client.post(
        "/register",
        data={
            "csrf_token": token.group(1),
            "display_name": "Form User",
            "email": email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/api/me").get_json()["display_name"] == "Form User"

    other = app.test_client()
    page = other.get("/login")
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    bad = other.post(
        "/login", data={"csrf_token": token.group(1), "email": email, "password": "wrong password"}
    )
    assert bad.status_code == 401
    assert "Wrong email or password." in bad.get_data(as_text=True)
    good = other.post(
        "/login?next=//evil.example/x",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
    )
    assert good.status_code == 302 and good.headers["Location"] == "/", "no open redirect"


def test_pages_require_login(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
