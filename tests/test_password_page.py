"""Changing the password from the profile page signs out the other sessions, not this one."""

from __future__ import annotations

import re

from flask import Flask

from .conftest import InProcessUser
from .support import unique_email

OLD, NEW = "a long enough password", "another quite long passphrase 7"


def _form_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="password-csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "the password form carries its CSRF field"
    return match.group(1)


def test_password_form_changes_the_password_and_signs_out_other_sessions(
    app: Flask, make_user
) -> None:
    email = unique_email()
    here = make_user(email=email, password=OLD)
    elsewhere = InProcessUser(app.test_client())
    assert (
        elsewhere.call(
            "POST", "/api/auth/login", json={"email": email, "password": OLD}
        ).status_code
        == 200
    )

    wrong = here.client.post(
        "/profile/password",
        data={
            "password-csrf_token": _form_token(here.client, "/profile"),
            "password-current_password": "not the password",
            "password-new_password": NEW,
        },
    )
    assert wrong.status_code == 403
    assert "The current password is not right." in wrong.get_data(as_text=True)

    changed = here.client.post(
        "/profile/password",
        data={
            "password-csrf_token": _form_token(here.client, "/profile"),
            "password-current_password": OLD,
            "password-new_password": NEW,
        },
    )
    assert changed.status_code == 302
    assert here.client.get("/api/me").status_code == 200, "this session stays signed in"
    assert elsewhere.client.get("/api/me").status_code == 401, "the other one is signed out"
    fresh = InProcessUser(app.test_client())
    assert (
        fresh.call("POST", "/api/auth/login", json={"email": email, "password": OLD}).status_code
        == 401
    )
    assert (
        fresh.call("POST", "/api/auth/login", json={"email": email, "password": NEW}).status_code
        == 200
    )


def test_password_form_refuses_short_and_common_passwords(make_user) -> None:
    user = make_user(password=OLD)
    for new_password, status in [("short", 400), ("password123", 400)]:
        response = user.client.post(
            "/profile/password",
            data={
                "password-csrf_token": _form_token(user.client, "/profile"),
                "password-current_password": OLD,
                "password-new_password": new_password,
            },
        )
        assert response.status_code == status, new_password
    assert user.client.get("/api/me").status_code == 200
