"""Login sessions and the sockets opened under them.

Flask's session is a signed cookie that a socket copies when it connects, so
an HTTP logout is not seen by an open socket. Each login therefore gets a fresh
token (which also starts a new session, against fixation); sockets opened with
it join ``session:<token>``, and logout disconnects them.
"""

from __future__ import annotations

import secrets

from flask import current_app, request, session
from flask_login import login_user

from ..models import User
from . import realtime

_TOKEN_KEY = "login_token"
_KEPT_ACROSS_LOGIN = ("csrf_token",)


def start_session() -> str:
    """Begin a new session at login: only the CSRF token survives from before it.

    A login over an existing one (another account in the same browser) first
    closes the sockets of the login it replaces.
    """
    end_socket_session()
    kept = {key: session[key] for key in _KEPT_ACROSS_LOGIN if key in session}
    session.clear()
    session.update(kept)
    token = secrets.token_urlsafe(16)
    session[_TOKEN_KEY] = token
    return token


def current_login_token() -> str | None:
    token = session.get(_TOKEN_KEY)
    return token if isinstance(token, str) else None


def end_socket_session() -> None:
    """Close the sockets opened under the current login (called on logout)."""
    token = current_login_token()
    if token:
        realtime.disconnect_session(token)


def ensure_login_token(*_args: object, **_kwargs: object) -> None:
    """Give a session restored from the remember-me cookie a token of its own.

    Connected to Flask-Login's ``user_loaded_from_cookie``: without it, sockets
    opened under such a session could not be found and closed at logout.
    """
    if current_login_token() is None:
        session[_TOKEN_KEY] = secrets.token_urlsafe(16)


def renew_after_password_change(user: User) -> None:
    """Keep this login signed in after a password change, and sign out every other one.

    The change bumped the user's session epoch, which invalidates every stored copy
    of the user id, this login's included: this login gets the new id (and a new
    remember-me cookie if it had one), and so do the session copies its open
    sockets keep. The user's other sockets are told ``session_ended`` and closed;
    their sessions can no longer load the user anyway.
    """
    had_remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in (
        request.cookies
    )
    login_user(user, remember=had_remember_cookie)
    token = current_login_token()
    if token:
        realtime.refresh_session_sockets(token, {"_user_id": user.get_id()})
    realtime.disconnect_user_except_session(user.id, token, reason="password_changed")
