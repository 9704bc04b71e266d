"""Changing one's own profile (display name, avatar) and looking other people up.

A change is committed first and then announced with ``user_updated`` to every room
the user is in (and to their own other tabs), so that names and pictures shown
next to their messages change everywhere without a reload.
"""

from __future__ import annotations

import unicodedata
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError

from ..database import write_transaction
from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import User
from ..schemas import DISPLAY_NAME_MAX_LENGTH
from . import avatars, presence, realtime
from .rooms import room_ids_of

# Control characters and line breaks: invisible, or able to break a layout or a log line
# (and PostgreSQL refuses NUL outright). Joiners and direction marks stay allowed:
# emoji sequences and right-to-left names need them.
_FORBIDDEN_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


@dataclass(frozen=True)
class Person:
    """A user as the directory and profile pages show them: with whether they are online."""

    user: User
    online: bool

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def display_name(self) -> str:
        return self.user.display_name

    @property
    def avatar_url(self) -> str:
        return self.user.avatar_url

    @property
    def created_at(self) -> datetime:
        return self.user.created_at


def as_people(users: list[User]) -> list[Person]:
    online = presence.online_among(user.id for user in users)
    return [Person(user, user.id in online) for user in users]


def get_person(user_id: uuid.UUID) -> Person:
    """Any registered user, by id (404 if there is none)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return Person(user, presence.is_online(user.id))


def clean_display_name(value: str) -> str:
    """Trim a display name and check it: 1 to 50 characters of any script, no control codes.

    The name is otherwise kept exactly as typed (no normalisation), so that what a
    person wrote in Korean, with emoji or right to left is what everyone sees.
    """
    name = value.strip()
    if not 1 <= len(name) <= DISPLAY_NAME_MAX_LENGTH:
        raise Invalid(
            f"display_name: must be 1 to {DISPLAY_NAME_MAX_LENGTH} characters.",
            code="invalid",
        )
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in name):
        raise Invalid(
            "display_name: cannot contain control characters or line breaks.", code="invalid"
        )
    return name


def rename(user: User, display_name: str) -> User:
    """Change the user's display name; the rooms they share see it at once."""
    name = clean_display_name(display_name)
    if name == user.display_name:
        return user
    with write_transaction():
        user.profile.display_name = name
    _announce(user)
    return user


def set_avatar(user: User, upload: BinaryIO) -> User:
    """Replace the user's avatar with a thumbnail of the uploaded image.

    The image is checked and stored before the profile changes: a refused upload
    (400, 413) leaves the old avatar in place.
    """
    name = avatars.store_upload(upload)
    try:
        with write_transaction() as session:
            # Re-read under the write lock: another tab may have changed it meanwhile.
            session.refresh(user.profile, ["avatar"])
            previous = user.profile.avatar
            user.profile.avatar = name
    except Exception:
        # The file must not outlive the failed change; the original error is what counts.
        with suppress(SQLAlchemyError, OSError):
            avatars.forget(name)
        raise
    if name == previous:
        return user
    avatars.forget(previous)
    _announce(user)
    return user


def remove_avatar(user: User) -> User:
    """Go back to the generated default avatar."""
    with write_transaction() as session:
        session.refresh(user.profile, ["avatar"])
        previous = user.profile.avatar
        user.profile.avatar = None
    if previous is None:
        return user
    avatars.forget(previous)
    _announce(user)
    return user


def _announce(user: User) -> None:
    realtime.push_user_updated(user, room_ids_of(user.id))
