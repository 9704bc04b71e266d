"""Which passwords are accepted, and changing one's password.

A new password (at registration or a change) must be 8 to 1024 characters and not
one of the common passwords shipped in ``chat/data/common-passwords.txt`` (compared
without regard to case and surrounding spaces): those are the first guesses of any
attack on a login form, and a rate limit only slows guessing down.

Changing the password signs out every *other* login of the account. Flask's session
is a signed cookie that the server cannot revoke, so each user has a session epoch
(``users.session_epoch``) that is part of the id Flask-Login keeps in the session and
in the remember-me cookie (``User.get_id``: ``"<uuid>:<epoch>"``); the user loader
refuses an id whose epoch is not the current one. A change bumps the epoch in the
same UPDATE as the hash, so from its commit on every older session and remember
cookie is worthless. The login that made the change is renewed with the new epoch
(``sessions.renew_after_password_change``).

The list: ``awk 'length($0) >= 8'`` over Django's
``django/contrib/auth/common-passwords.txt.gz`` (from the ``django`` wheel on PyPI),
with the header comment kept at the top.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import update

from ..database import write_transaction
from ..errors import Forbidden, Invalid
from ..models import User
from ..schemas import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    return password.strip().lower() in common_passwords()


def check_new_password(password: str) -> None:
    """Refuse a password that is too short, too long, or common (400 ``invalid``)."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise Invalid(
            f"password: must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters."
        )
    if is_common(password):
        raise Invalid(
            "password: this is one of the most common passwords; choose another.",
            code="common_password",
        )


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Set a new password and end every other login of the user (bumps the session epoch).

    The current password must be given (403 ``wrong_password`` otherwise): a session
    left open on a shared computer must not be enough to take the account over.
    """
    from .accounts import hash_password, verify_password

    if not verify_password(user, current_password):
        raise Forbidden("The current password is not right.", code="wrong_password")
    check_new_password(new_password)
    new_hash = hash_password(new_password)
    with write_transaction() as session:
        epoch = session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=new_hash, session_epoch=User.session_epoch + 1)
            .returning(User.session_epoch)
            .execution_options(synchronize_session=False)
        ).scalar_one()
    user.password_hash = new_hash
    user.session_epoch = epoch
    return user
