"""Rooms and who belongs to them: the one place that decides room access.

A room the user does not belong to is reported as not found (404), never as
forbidden, so that room ids cannot be probed. Only group rooms can be joined
and left; direct rooms keep their two members.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..database import write_transaction
from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import Room, RoomMember, User, utcnow
from . import realtime

ROOM_NOT_FOUND = "No such room, or you are not a member of it."


def _room_query():
    return select(Room).options(selectinload(Room.members))


def is_member(user_id: uuid.UUID, room_id: uuid.UUID) -> bool:
    return bool(
        db.session.scalar(
            select(exists().where(RoomMember.room_id == room_id, RoomMember.user_id == user_id))
        )
    )


def require_member(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Raise 404 unless the user belongs to the room (the read/write authorization rule)."""
    if not is_member(user_id, room_id):
        raise NotFound(ROOM_NOT_FOUND)


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
    now = utcnow()
    with write_transaction() as session:
        room = Room(
            kind="group",
            title=title,
            created_by_id=creator.id,
            created_at=now,
            last_activity_at=now,
        )
        session.add(room)
        session.flush()
        for user_id in [creator.id, *sorted(wanted)]:
            session.add(RoomMember(room_id=room.id, user_id=user_id, joined_at=now))
    room = get_room(creator, room.id)
    for member in room.members:
        realtime.subscribe_user(member.user_id, room.id)
        realtime.push_room_added(room, member.user_id)
    return room


def join_room(user: User, room_id: uuid.UUID) -> Room:
    """Join a group room by its id (or link); joining twice is harmless."""
    room = db.session.get(Room, room_id)
    if room is None or room.kind != "group":
        # A direct room is private to its two members: it does not exist for others.
        raise NotFound(ROOM_NOT_FOUND)
    if not is_member(user.id, room_id):
        try:
            with write_transaction() as session:
                session.add(RoomMember(room_id=room_id, user_id=user.id))
        except IntegrityError:
            pass  # joined concurrently from another tab: the goal is reached
        else:
            room = get_room(user, room_id)
            realtime.subscribe_user(user.id, room_id)
            realtime.push_member_joined(room, user)
            realtime.push_room_added(room, user.id)
    return get_room(user, room_id)


def leave_room(user: User, room_id: uuid.UUID) -> None:
    """Leave a group room; the user's sockets stop receiving it at once."""
    room = db.session.get(Room, room_id)
    if room is None or not is_member(user.id, room_id):
        raise NotFound(ROOM_NOT_FOUND)
    if room.kind != "group":
        raise Invalid("A direct conversation cannot be left.", code="direct_room")
    with write_transaction() as session:
        session.execute(
            delete(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id == user.id)
        )
    realtime.unsubscribe_user(user.id, room_id)
    realtime.push_member_left(room_id, user.id)
