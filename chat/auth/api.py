"""The account API: ``/api/auth/*``, ``/api/me`` and ``/api/csrf``."""

from __future__ import annotations

from flask_login import current_user, login_required, login_user, logout_user
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf

from ..apidoc import errors
from ..schemas import ChangePasswordSchema, CsrfSchema, LoginSchema, MeSchema, RegisterSchema
from ..services import accounts, passwords
from ..services.sessions import end_socket_session, renew_after_password_change, start_session
from ..throttling import login_per_account, login_per_address, password_checks, registrations

blp = Blueprint("auth_api", __name__, url_prefix="/api", description="Accounts and sessions")


@blp.get("/csrf")
@blp.response(200, CsrfSchema)
def csrf_token():
    """The token to send back in ``X-CSRFToken`` on every state-changing request."""
    return {"csrf_token": generate_csrf()}


@blp.post("/auth/register")
@registrations
@blp.arguments(RegisterSchema())
@blp.response(201, MeSchema)
@errors(blp, 400, 409, 429, 503)
def register(payload):
    """Create an account and log in as it."""
    user = accounts.register(payload["email"], payload["password"], payload["display_name"])
    start_session()
    login_user(user)
    return user


@blp.post("/auth/login")
@login_per_address
@login_per_account
@blp.arguments(LoginSchema())
@blp.response(200, MeSchema)
@errors(blp, 400, 401, 429, 503)
def login(payload):
    """Log in; the same 401 for an unknown email and a wrong password."""
    user = accounts.authenticate(payload["email"], payload["password"])
    start_session()
    login_user(user, remember=payload["remember"])
    return user


@blp.post("/auth/logout")
@blp.response(204)
@errors(blp, 400)
def logout():
    """Log out and close this session's sockets; harmless when not logged in."""
    if current_user.is_authenticated:
        end_socket_session()
        logout_user()


@blp.get("/me")
@login_required
@blp.response(200, MeSchema)
@errors(blp, 401)
def me():
    """The logged-in user, with their email."""
    return current_user._get_current_object()


@blp.post("/me/password")
@password_checks
@login_required
@blp.arguments(ChangePasswordSchema())
@blp.response(204)
@errors(blp, 400, 401, 403, 429, 503)
def change_password(payload):
    """Change one's password: every other login is signed out, this one stays.

    403 ``wrong_password`` when ``current_password`` is not right (limited like failed
    logins); 400 ``common_password`` for a password on the common-passwords list.
    """
    user = passwords.change_password(
        current_user._get_current_object(), payload["current_password"], payload["new_password"]
    )
    renew_after_password_change(user)
