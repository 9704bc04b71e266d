"""Who may do what: the one place that decides access to rooms and messages.

Every service that reads or changes a room or a message asks here, and every HTTP
route and socket event reaches a service, so a rule changed here changes for both
paths at once (``tests/test_authz_matrix.py`` checks the whole table on both).

The rules:

- A room's content (the room, its history, its changes, sending to it) is for its
  members only. Anyone else is told the room does not exist (404, never 403), so
  room ids cannot be probed.
- A group room can be joined by anyone who knows its id (the id is the invitation);
  a direct room exists only for its two members.
- A message can be edited or deleted only by its author (403 ``not_author`` for the
  other members; 404 for everyone else, as for the room).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    select,
    union_all,
)

from ..errors import Forbidden, NotFound, ServiceError, Unauthorized
from ..extensions import db
from ..models import Message, Profile, Room, RoomMember, User
from .group_commit import GroupCommit

ROOM_NOT_FOUND = "No such room, or you are not a member of it."
MESSAGE_NOT_FOUND = "No such message."


def membership(room_id: ColumnElement, user_id: ColumnElement) -> ColumnElement[bool]:
    """The membership rule as SQL: asked alone (``is_member``) or inside the statement
    it guards, one query instead of two (a send takes its numbers only if the sender is
    a member; a history page has rows only for a member)."""
    return exists().where(RoomMember.room_id == room_id, RoomMember.user_id == user_id)


# Built once: asked on every send and read, and building the statement cost more than
# running it (docs/performance.md).
_IS_MEMBER = select(membership(bindparam("room_id"), bindparam("user_id")))


def profile_version(user_id: ColumnElement) -> ColumnElement:
    """The sender's profile version as of now, read beside a send's write for
    ``current_sender``."""
    return (
        select(Profile.updated_at)
        .where(Profile.user_id == user_id)
        .scalar_subquery()
        .label("profile_updated_at")
    )


def session_epoch(user_id: ColumnElement) -> ColumnElement:
    """The user's session epoch as of now (``in_current_session`` compares it)."""
    return select(User.session_epoch).where(User.id == user_id).scalar_subquery().label("epoch")


# A batch's senders that are members of the rooms they send to, with their versions: the
# membership rule for many (room, user) pairs in one query (SQLite's batch of sends).
# The pairs are a fixed number of parameter slots (unused ones NULL, which match no
# row), joined to the memberships: SQLite scanned every membership for an IN list of
# two pairs or more, and an expanding IN list made SQLAlchemy rewrite the statement at
# every execution (docs/performance.md, item 15).
PAIRS_PER_QUERY = GroupCommit.max_batch  # a batch's pairs in one query


def _members_among_statement(slots: int) -> Select:
    # SELECT … UNION ALL, not VALUES: SQLAlchemy caches no statement holding a VALUES of
    # bound parameters, and compiling this one on every batch cost more than running it.
    pairs = union_all(
        *(
            select(
                bindparam(f"room_{slot}", type_=RoomMember.room_id.type).label("room_id"),
                bindparam(f"user_{slot}", type_=RoomMember.user_id.type).label("user_id"),
            )
            for slot in range(slots)
        )
    ).cte("pairs")
    return select(
        RoomMember.room_id,
        RoomMember.user_id,
        session_epoch(RoomMember.user_id),
        profile_version(RoomMember.user_id),
    ).join_from(
        pairs,
        RoomMember,
        and_(RoomMember.room_id == pairs.c.room_id, RoomMember.user_id == pairs.c.user_id),
    )


# One statement per power of two of slots up to PAIRS_PER_QUERY, the smallest that holds
# the pairs taken: a lone send (one pair) filled 16 slots, and binding and joining the
# 15 empty ones cost it about 6 % of its CPU (docs/performance.md, item 20).
_SLOT_COUNTS = sorted(
    {min(2**power, PAIRS_PER_QUERY) for power in range(PAIRS_PER_QUERY.bit_length() + 1)}
)
_MEMBERS_AMONG = {slots: _members_among_statement(slots) for slots in _SLOT_COUNTS}


def members_among(
    connection: Connection, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[int, datetime | None]]:
    """Which ``(room_id, user_id)`` pairs are memberships, with each user's session
    epoch and profile version beside it."""
    wanted = list(set(pairs))
    found: dict[tuple[uuid.UUID, uuid.UUID], tuple[int, datetime | None]] = {}
    for start in range(0, len(wanted), PAIRS_PER_QUERY):
        taken = wanted[start : start + PAIRS_PER_QUERY]
        slots = next(size for size in _MEMBERS_AMONG if size >= len(taken))
        params: dict[str, uuid.UUID | None] = {}
        for slot in range(slots):
            room_id, user_id = taken[slot] if slot < len(taken) else (None, None)
            params[f"room_{slot}"], params[f"user_{slot}"] = room_id, user_id
        for room_id, user_id, epoch, profile_updated_at in connection.execute(
            _MEMBERS_AMONG[slots], params
        ):
            found[room_id, user_id] = (epoch, profile_updated_at)
    return found


def is_member(user_id: uuid.UUID, room_id: uuid.UUID) -> bool:
    return bool(db.session.scalar(_IS_MEMBER, {"room_id": room_id, "user_id": user_id}))


def require_member(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Raise 404 unless the user belongs to the room (the read/write rule for room content)."""
    if not is_member(user_id, room_id):
        raise NotFound(ROOM_NOT_FOUND)


def in_current_session(sender_epoch: int, epoch_now: int | None) -> bool:
    """Whether a send's sender is still in the session it was made in.

    ``sender_epoch`` may come from a socket's copy of its user, loaded at connect: a
    password change since then (through another instance, which could not reach this
    copy) bumped the stored epoch. A send's write asks this rule beside membership
    (``in_session`` as SQL), so that a refused send writes nothing and a batch needs
    no transaction to take it back (docs/performance.md, item 29).
    """
    return epoch_now == sender_epoch


def in_session(user_id: ColumnElement, sender_epoch: ColumnElement) -> ColumnElement[bool]:
    """``in_current_session`` as SQL, inside the statement it guards."""
    return exists().where(User.id == user_id, User.session_epoch == sender_epoch)


def send_refusal(connection: Connection, user_id: uuid.UUID, sender_epoch: int) -> ServiceError:
    """Why a send was not written: its sender's session ended (401), or else they are
    not a member of the room (or it is gone; the same 404 either way). Asked only after
    a refusal: the write itself asks both rules."""
    epoch_now = connection.execute(_SESSION_EPOCH, {"user_id": user_id}).scalar()
    if not in_current_session(sender_epoch, epoch_now):
        return Unauthorized("Your session has ended; log in again.")
    return NotFound(ROOM_NOT_FOUND)


_SESSION_EPOCH = select(session_epoch(bindparam("user_id")))


def current_sender(sender: User, profile_updated_at: datetime | None) -> User:
    """The sender as stored now: reloaded if their profile changed since their copy was
    loaded, so that the message shows the name and avatar of now."""
    if sender.profile is not None and profile_updated_at != sender.profile.updated_at:
        sender = db.session.get(User, sender.id, populate_existing=True)
    return sender


def require_joinable(room: Room | None) -> Room:
    """The room, if it can be joined by id: group rooms only (direct rooms are private)."""
    if room is None or room.kind != "group":
        raise NotFound(ROOM_NOT_FOUND)
    return room


def require_author(user_id: uuid.UUID, message: Message | None) -> Message:
    """The message, if the user may change it: 404 for non-members, 403 for other members."""
    if message is None or not is_member(user_id, message.room_id):
        # The same answer for a message that does not exist and one in a room you are not in.
        raise NotFound(MESSAGE_NOT_FOUND)
    if message.sender_id != user_id:
        raise Forbidden("Only the author can change this message.", code="not_author")
    return message
