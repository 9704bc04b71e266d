"""Rooms and who belongs to them: the one place that decides room access.

A room the user does not belong to is reported as not found (404), never as
forbidden, so that room ids cannot be probed. Only group rooms can be joined
and left; direct rooms keep their two members.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..database import write_transaction
from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import DIRECT_ROOM_TITLE, Room, RoomMember, User, utcnow
from . import permissions, realtime

# The access rules themselves live in permissions.py; these names are kept for callers.
ROOM_NOT_FOUND = permissions.ROOM_NOT_FOUND
is_member = permissions.is_member
require_member = permissions.require_member


def _room_query():
    return select(Room).options(selectinload(Room.members))


def get_room(user: User, room_id: uuid.UUID) -> Room:
    """The room, as seen by one of its members."""
    require_member(user.id, room_id)
    room = db.session.scalar(_room_query().where(Room.id == room_id))
    if room is None:
        raise NotFound(ROOM_NOT_FOUND)
    return room


def list_rooms(user: User) -> list[Room]:
    """The user's rooms, most recent activity first."""
    query = (
        _room_query()
        .join(RoomMember, RoomMember.room_id == Room.id)
        .where(RoomMember.user_id == user.id)
        .order_by(Room.last_activity_at.desc(), Room.id)
    )
    return list(db.session.scalars(query))


def _insert_room(
    session: Session,
    kind: str,
    title: str,
    creator_id: uuid.UUID,
    member_ids: list[uuid.UUID],
    direct_key: str | None = None,
) -> Room:
    """A new room and its first members, inside the caller's write transaction."""
    now = utcnow()
    room = Room(
        kind=kind,
        title=title,
        direct_key=direct_key,
        created_by_id=creator_id,
        created_at=now,
        last_activity_at=now,
    )
    session.add(room)
    session.flush()
    for member_id in member_ids:
        session.add(RoomMember(room_id=room.id, user_id=member_id, joined_at=now))
    return room


def room_ids_of(user_id: uuid.UUID) -> list[uuid.UUID]:
    return list(db.session.scalars(select(RoomMember.room_id).where(RoomMember.user_id == user_id)))


def create_group_room(creator: User, title: str, member_ids: list[uuid.UUID]) -> Room:
    """Create a group room with the creator and the named users as members."""
    wanted = {uid for uid in member_ids if uid != creator.id}
    if wanted:
        found = set(db.session.scalars(select(User.id).where(User.id.in_(wanted))))
        missing = wanted - found
        if missing:
            raise Invalid(
                "Some member_ids are not users: " + ", ".join(sorted(str(m) for m in missing)),
                code="unknown_user",
            )
    with write_transaction() as session:
        room = _insert_room(session, "group", title, creator.id, [creator.id, *sorted(wanted)])
    room = get_room(creator, room.id)
    for member in room.members:
        realtime.subscribe_user(member.user_id, room.id)
        realtime.push_room_added(room, member.user_id)
    return room


def join_room(user: User, room_id: uuid.UUID) -> Room:
    """Join a group room by its id (or link); joining twice is harmless."""
    # A direct room is private to its two members: it does not exist for others.
    room = permissions.require_joinable(db.session.get(Room, room_id))
    if not is_member(user.id, room_id):
        try:
            with write_transaction() as session:
                # History from before joining does not count as unread.
                session.add(
                    RoomMember(room_id=room_id, user_id=user.id, last_read_seq=room.last_seq)
                )
        except IntegrityError:
            pass  # joined concurrently from another tab: the goal is reached
        else:
            room = get_room(user, room_id)
            realtime.subscribe_user(user.id, room_id)
            realtime.push_member_joined(room, user)
            realtime.push_room_added(room, user.id)
    return get_room(user, room_id)


def direct_key(user_id: uuid.UUID, other_id: uuid.UUID) -> str:
    """The pair's key, the same whichever of the two asks: "<smaller id>:<larger id>"."""
    low, high = sorted((str(user_id), str(other_id)))
    return f"{low}:{high}"


def _direct_room(key: str) -> Room | None:
    return db.session.scalar(_room_query().where(Room.direct_key == key))


def open_direct_room(user: User, other_id: uuid.UUID) -> tuple[Room, bool]:
    """The 1:1 room of ``user`` and ``other_id``, created on first use: ``(room, created)``.

    One room per pair is a rule of the database (``rooms.direct_key`` is unique), not
    a check-then-insert: when both people start the conversation at the same moment,
    one insert wins and the other, refused by the constraint, reads the winner's room.

    A conversation with oneself is refused (400): a direct room has exactly two
    members, and a notes-to-self room would be a third kind of room with its own rules.

    On creation both members' open sockets join the room and receive ``room_created``,
    so it appears in the other person's list before the first message arrives.
    """
    if other_id == user.id:
        raise Invalid("You cannot start a conversation with yourself.", code="self_conversation")
    if db.session.get(User, other_id) is None:
        raise NotFound("No such user.")
    key = direct_key(user.id, other_id)
    existing = _direct_room(key)
    if existing is not None:
        return existing, False
    try:
        with write_transaction() as session:
            room = _insert_room(
                session, "direct", DIRECT_ROOM_TITLE, user.id, [user.id, other_id], key
            )
    except IntegrityError:
        # The other side's insert won the unique direct_key: theirs is the room.
        existing = _direct_room(key)
        if existing is None:
            raise NotFound("No such user.") from None  # the other account was just deleted
        return existing, False
    room = get_room(user, room.id)
    member_ids = [member.user_id for member in room.members]
    for member_id in member_ids:
        realtime.subscribe_user(member_id, room.id)
    realtime.push_room_created(room, member_ids)
    return room, True


def leave_room(user: User, room_id: uuid.UUID) -> None:
    """Leave a group room; the user's sockets stop receiving it at once."""
    require_member(user.id, room_id)
    room = db.session.get(Room, room_id)
    if room is None:
        raise NotFound(ROOM_NOT_FOUND)
    if room.kind != "group":
        raise Invalid("A direct conversation cannot be left.", code="direct_room")
    with write_transaction() as session:
        session.execute(
            delete(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id == user.id)
        )
    realtime.unsubscribe_user(user.id, room_id)
    realtime.push_member_left(room_id, user.id)
