"""HTTP rate limits (Flask-Limiter) and how a refusal looks: 429 with ``Retry-After``.

Each limit is a shared limit with a scope, so that the HTML form and the JSON route
doing the same thing (logging in, registering, creating a room, uploading an
avatar) spend one budget: a limit that the other door bypasses is no limit.

- ``login``: every login attempt from one address;
- ``login-account``: failed logins against one email (whatever the address), so
  that guessing one person's password from many addresses is slowed too;
- ``register``: registrations from one address (a taken email counts like any try);
- ``rooms``: group rooms created by one user;
- ``avatars``: avatar uploads by one user.

The limit strings come from the ``RATELIMIT_*`` settings, read at each request, so
tests and deployments change them without code. Message sends are limited in the
service layer instead (``services/ratelimits.py``), because the socket shares them.

Addresses are ``request.remote_addr``: behind a reverse proxy, ``TRUSTED_PROXIES``
must say how many proxies set ``X-Forwarded-For`` (``ProxyFix``), or every client
shares the proxy's address.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from .errors import error_body
from .extensions import limiter


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _account_key() -> str:
    """The email a login attempt names, folded as accounts are (JSON body or form)."""
    email = None
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        email = body.get("email")
    elif request.form:
        email = request.form.get("email")
    if not isinstance(email, str) or not email.strip():
        return "no-email"
    return email.strip().lower()[:254]


def _user_key() -> str:
    """The signed-in user (the route requires one); the address for a request without."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{get_remote_address()}"


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def _failed_password_check(response: Response) -> bool:
    return response.status_code == 403


login_per_address = limiter.shared_limit(
    _setting("RATELIMIT_LOGIN_PER_ADDRESS"), scope="login", methods=["POST"]
)
login_per_account = limiter.shared_limit(
    _setting("RATELIMIT_LOGIN_PER_ACCOUNT"),
    scope="login-account",
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_failed_login,
)
# Changing one's password asks for the current one: wrong guesses are limited like logins.
password_checks = limiter.shared_limit(
    _setting("RATELIMIT_LOGIN_PER_ACCOUNT"),
    scope="password-check",
    key_func=_user_key,
    methods=["POST"],
    deduct_when=_failed_password_check,
)
registrations = limiter.shared_limit(
    _setting("RATELIMIT_REGISTER_PER_ADDRESS"), scope="register", methods=["POST"]
)
room_creation = limiter.shared_limit(
    _setting("RATELIMIT_ROOMS_PER_USER"), scope="rooms", key_func=_user_key, methods=["POST"]
)
avatar_uploads = limiter.shared_limit(
    _setting("RATELIMIT_AVATARS_PER_USER"), scope="avatars", key_func=_user_key, methods=["POST"]
)


def retry_after_seconds() -> int:
    """Seconds until the breached limit of this request lets one more attempt through."""
    breached = limiter.current_limit
    if breached is None:
        return 1
    seconds = math.ceil(breached.window.reset_time - time.time())
    return min(max(1, seconds), breached.limit.get_expiry())


def init_app(app: Flask) -> None:
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(_error: RateLimitExceeded) -> ResponseReturnValue:
        from .http import wants_json

        retry_after = retry_after_seconds()
        message = f"Too many attempts; try again in {retry_after} s."
        if wants_json():
            response = make_response(
                error_body("rate_limited", message, retry_after=retry_after), 429
            )
        else:
            page = render_template("error.html", status=429, message=message)
            response = make_response(page, 429)
        response.headers["Retry-After"] = str(retry_after)
        return response
