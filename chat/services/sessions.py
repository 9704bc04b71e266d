"""Login sessions and the sockets opened under them.

Flask's session is a signed cookie that a socket copies when it connects, so
an HTTP logout is not seen by an open socket. Each login therefore gets a fresh
token (which also starts a new session, against fixation); sockets opened with
it join ``session:<token>``, and logout disconnects them.
"""

from __future__ import annotations

import secrets

from flask import session

from . import realtime

_TOKEN_KEY = "login_token"
_KEPT_ACROSS_LOGIN = ("csrf_token",)


def start_session() -> str:
    """Begin a new session at login: only the CSRF token survives from before it."""
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
