"""Registering, authenticating and loading users.

Passwords are hashed with argon2id. Login answers the same way, and costs the
same time, for an unknown email as for a wrong password: an unknown email is
checked against a dummy hash so that timing does not reveal who is registered.
"""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from ..database import write_transaction
from ..errors import Conflict, Unauthorized
from ..extensions import db
from ..models import Profile, User
from . import passwords
from .profiles import clean_display_name

_DUMMY_PASSWORD = "not-a-real-password-only-for-timing"


def _hasher() -> PasswordHasher:
    """One hasher per app, built from its settings (cheap in tests, slow in earnest)."""
    state = current_app.extensions.setdefault("chat.password_hasher", {})
    if "hasher" not in state:
        config = current_app.config
        state["hasher"] = PasswordHasher(
            time_cost=config["PASSWORD_HASH_TIME_COST"],
            memory_cost=config["PASSWORD_HASH_MEMORY_KIB"],
            parallelism=config["PASSWORD_HASH_PARALLELISM"],
        )
        state["dummy_hash"] = state["hasher"].hash(_DUMMY_PASSWORD)
    return state["hasher"]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def register(email: str, password: str, display_name: str) -> User:
    """Create a user and their profile; a taken email is a 409."""
    # The same name rule as a later rename (no control characters, 1 to 50 characters).
    name = clean_display_name(display_name)
    passwords.check_new_password(password)
    user = User(email=normalize_email(email), password_hash=hash_password(password))
    user.profile = Profile(display_name=name)
    try:
        with write_transaction() as session:
            session.add(user)
    except IntegrityError:
        raise Conflict("An account with this email already exists.", code="email_taken") from None
    return user


def authenticate(email: str, password: str) -> User:
    """Return the user whose credentials these are, or raise the one 401 for every failure."""
    hasher = _hasher()
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    stored_hash = (
        user.password_hash if user else current_app.extensions["chat.password_hasher"]["dummy_hash"]
    )
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    if hasher.check_needs_rehash(user.password_hash):
        new_hash = hasher.hash(password)
        with write_transaction() as session:
            session.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
        user.password_hash = new_hash
    return user


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (for a change of password, not for login)."""
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Built once: ``session.get`` builds its statement and cache key anew on each call, which
# cost a fifth of loading the user, on every request (docs/performance.md, item 19).
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: ``"<uuid>:<session epoch>"`` from the session or remember cookie.

    An id whose epoch is not the user's current one belongs to a login from before
    the last password change (``passwords.py``): no user. An id without an epoch
    (sessions from before epochs existed) counts as epoch 0. A malformed id is no user.
    """
    raw_id, _, raw_epoch = (user_id or "").partition(":")
    try:
        key = uuid.UUID(raw_id)
        epoch = int(raw_epoch) if raw_epoch else 0
    except (TypeError, ValueError):
        return None
    user = db.session.execute(_USER_BY_ID, {"user_id": key}).scalar_one_or_none()
    if user is None or user.session_epoch != epoch:
        return None
    return user
