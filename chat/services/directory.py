"""The user directory: everyone, searchable by display name, in keyset pages.

Search is case-insensitive in every script because it compares ``Profile.name_key``
(the name NFKC-normalised and case-folded in Python on write) with the query
folded the same way. Names that start with the query come first, then names that
merely contain it; within each, by name and then id. The cursor carries the last
row's position in that order, so pages never repeat or skip a person even while
others register or rename in between (a renamed person moves to their new place).

Emails are never searched nor shown: only what every user may see of another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import and_, case, literal_column, or_, select
from sqlalchemy.orm import contains_eager

from ..errors import Invalid
from ..extensions import db
from ..models import Profile, User, name_search_key
from .profiles import Person, as_people


def search(query: str, limit: int, cursor: str | None = None) -> tuple[list[Person], str | None]:
    """One page of people whose name matches ``query`` (all people for an empty query).

    Returns the page and the cursor of the next one (None after the last page).
    """
    key = name_search_key(query.strip())
    # Constants are inlined (not bound) so that PostgreSQL knows the CASE is an integer.
    prefix_first = case(
        (Profile.name_key.startswith(key, autoescape=True), literal_column("0")),
        else_=literal_column("1"),
    )
    rank = prefix_first if key else literal_column("0")
    statement = (
        select(User, rank.label("rank"))
        .join(Profile, Profile.user_id == User.id)
        .options(contains_eager(User.profile))
    )
    if key:
        statement = statement.where(Profile.name_key.contains(key, autoescape=True))
    if cursor:
        after_rank, after_name, after_id = _decode_cursor(cursor, key)
        statement = statement.where(
            or_(
                rank > after_rank,
                and_(rank == after_rank, Profile.name_key > after_name),
                and_(
                    rank == after_rank,
                    Profile.name_key == after_name,
                    Profile.user_id > after_id,
                ),
            )
        )
    order = (prefix_first,) if key else ()
    statement = statement.order_by(*order, Profile.name_key, Profile.user_id).limit(limit + 1)
    rows = db.session.execute(statement).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last, last_rank = rows[-1]
        next_cursor = _encode_cursor(last_rank, last.profile.name_key, last.id, key)
    return as_people([user for user, _rank in rows]), next_cursor


def _query_tag(key: str) -> str:
    """Ties a cursor to its query: a cursor of one search is meaningless in another."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _encode_cursor(rank: int, name_key: str, user_id: uuid.UUID, key: str) -> str:
    raw = json.dumps([rank, name_key, str(user_id), _query_tag(key)], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, key: str) -> tuple[int, str, uuid.UUID]:
    invalid = Invalid("cursor: not a cursor of this search; start again without it.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data: Any = json.loads(raw)
        rank, name_key, user_id, tag = data
        if rank not in (0, 1) or not isinstance(name_key, str) or tag != _query_tag(key):
            raise invalid
        return rank, name_key, uuid.UUID(user_id)
    except (binascii.Error, ValueError, TypeError, AttributeError):
        raise invalid from None
