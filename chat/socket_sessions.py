"""What a socket keeps between its events: its session copy and its logged-in user.

Flask-SocketIO runs every event in a fresh request context built from the
handshake's environ. Left alone, each event would verify the session cookie
again (only for Flask-SocketIO to replace the result with its saved copy) and
Flask-Login would load the user from the database again: together a third of a
send's CPU (docs/performance.md). Both are kept on the socket's environ instead,
which lives exactly as long as the connection.

Each event's request context also skips URL matching (``SocketEventContext``).

The kept user stays correct because everything that changes who a socket is
already reaches it: logout and a password change disconnect the sockets or
renew the id in their session copy (the kept user's ``get_id()`` then no longer
matches and is reloaded); a profile change drops the kept user of that user's
sockets on this instance (``realtime.push_user_updated``); a send compares the
sender's session epoch and profile with the database in its own write, which
covers the sockets on other instances (``permissions.in_current_session`` and
``current_sender``).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakValueDictionary

from flask import Flask, Request, request
from flask.ctx import RequestContext
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from .models import User
from .services import accounts
from .services.realtime import KEPT_USER

_SAVED_SESSION = "saved_session"  # Flask-SocketIO's key for a socket's session copy


class SocketAwareSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions, but a socket event reuses its socket's copy as it is."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        saved = request.environ.get(_SAVED_SESSION)
        if saved is not None:
            return saved
        return super().open_session(app, request)


# Where Flask-SocketIO's middleware answers Engine.IO (its default path, which the app
# keeps). Flask never serves a request under it: a request context with this path is
# one that Flask-SocketIO built for a socket's connect or event.
SOCKET_PATH = "/socket.io/"


class SocketEventContext(RequestContext):
    """A request context that does not match a socket event's URL against the routes.

    The handshake's path (``SOCKET_PATH``) is no route, so Flask's matching raised
    werkzeug's ``NotFound`` for every event and kept it on the request, traceback and
    all: a reference cycle (context, request, exception, frames) that made each
    event's whole context garbage for the cyclic collector, about 60 objects per send
    (docs/performance.md, item 17). An event (the connect included) dispatches by
    name, never by URL, so its context has no rule to find; ``url_for`` still works
    (the URL adapter is kept). Every other request is matched as usual.
    """

    def match_request(self) -> None:
        # The saved session marks a socket's events wherever its environ came from
        # (Flask-SocketIO's test client builds one without the trailing slash).
        request = self.request
        if not (request.path.startswith(SOCKET_PATH) or _SAVED_SESSION in request.environ):
            super().match_request()


class SocketAwareFlask(Flask):
    """Flask, with a socket event's request context built as ``SocketEventContext``."""

    def request_context(self, environ: dict[str, Any]) -> RequestContext:
        return SocketEventContext(self, environ)


# One kept copy per version of a user, shared by that user's sockets (a user with many
# tabs or devices, or 10,000 idle sockets of 50 users, keeps 50 copies, not 10,000).
# Only read from once kept, so greenlets can share it; the last socket takes it along.
_shared_copies: WeakValueDictionary[tuple[str, Any], User] = WeakValueDictionary()


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: from the database, once per socket rather than once per event."""
    environ = request.environ
    kept = environ.get(KEPT_USER)
    if kept is not None and kept.get_id() == user_id:
        return kept
    user = accounts.load_user(user_id)
    if _SAVED_SESSION in environ:  # a socket event, the connect included
        if user is None:
            environ.pop(KEPT_USER, None)
        else:
            version = (user.get_id(), user.profile.updated_at if user.profile else None)
            environ[KEPT_USER] = _shared_copies.setdefault(version, user)
    return user
