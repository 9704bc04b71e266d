"""The account API: ``/api/auth/*``, ``/api/me`` and ``/api/csrf``."""

from __future__ import annotations

from flask_login import current_user, login_required, login_user, logout_user
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf

from ..schemas import CsrfSchema, LoginSchema, MeSchema, RegisterSchema
from ..services import accounts
from ..services.sessions import end_socket_session, start_session

blp = Blueprint("auth_api", __name__, url_prefix="/api", description="Accounts and sessions")


@blp.get("/csrf")
@blp.response(200, CsrfSchema)
def csrf_token():
    """The token to send back in ``X-CSRFToken`` on every state-changing request."""
    return {"csrf_token": generate_csrf()}


@blp.post("/auth/register")
@blp.arguments(RegisterSchema)
@blp.response(201, MeSchema)
def register(payload):
    """Create an account and log in as it."""
    user = accounts.register(payload["email"], payload["password"], payload["display_name"])
    start_session()
    login_user(user)
    return user


@blp.post("/auth/login")
@blp.arguments(LoginSchema)
@blp.response(200, MeSchema)
def login(payload):
    """Log in; the same 401 for an unknown email and a wrong password."""
    user = accounts.authenticate(payload["email"], payload["password"])
    start_session()
    login_user(user, remember=payload["remember"])
    return user


@blp.post("/auth/logout")
@blp.response(204)
def logout():
    """Log out and close this session's sockets; harmless when not logged in."""
    if current_user.is_authenticated:
        end_socket_session()
        logout_user()


@blp.get("/me")
@login_required
@blp.response(200, MeSchema)
def me():
    """The logged-in user, with their email."""
    return current_user._get_current_object()
