"""Read state: how far each member has read, and what that leaves unread.

``room_members.last_read_seq`` is the one stored fact; unread counts are derived
from it (messages after it, not one's own, not deleted), so every tab and every
reload agrees, and marking read is a single monotonic UPDATE.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select, update

from ..database import write_transaction
from ..extensions import db
from ..models import Message, MessageMention, Room, RoomMember, User
from . import realtime
from .permissions import require_member


def annotate(rooms: Sequence[Room], viewer_id: uuid.UUID) -> Sequence[Room]:
    """Attach ``unread_count``, ``mention_count``, ``last_read_seq``, ``muted`` and
    ``last_message`` for one viewer.

    Four queries for the whole list, whatever its length.
    """
    ids = [room.id for room in rooms]
    if not ids:
        return rooms
    memberships = {
        room_id: (last_read, muted)
        for room_id, last_read, muted in db.session.execute(
            select(RoomMember.room_id, RoomMember.last_read_seq, RoomMember.muted).where(
                RoomMember.user_id == viewer_id, RoomMember.room_id.in_(ids)
            )
        ).all()
    }
    mentioned = dict(
        db.session.execute(
            select(Message.room_id, func.count())
            .join(MessageMention, MessageMention.message_id == Message.id)
            .join(
                RoomMember,
                and_(RoomMember.room_id == Message.room_id, RoomMember.user_id == viewer_id),
            )
            .where(
                MessageMention.user_id == viewer_id,
                Message.room_id.in_(ids),
                Message.seq > RoomMember.last_read_seq,
                Message.deleted_at.is_(None),
            )
            .group_by(Message.room_id)
        ).all()
    )
    unread = dict(
        db.session.execute(
            select(Message.room_id, func.count())
            .join(
                RoomMember,
                and_(RoomMember.room_id == Message.room_id, RoomMember.user_id == viewer_id),
            )
            .where(
                Message.room_id.in_(ids),
                Message.seq > RoomMember.last_read_seq,
                Message.deleted_at.is_(None),
                or_(Message.sender_id.is_(None), Message.sender_id != viewer_id),
            )
            .group_by(Message.room_id)
        ).all()
    )
    latest = {
        message.room_id: message
        for message in db.session.scalars(
            select(Message)
            .join(Room, and_(Room.id == Message.room_id, Room.last_seq == Message.seq))
            .where(Message.room_id.in_(ids))
        )
    }
    for room in rooms:
        last_read, muted = memberships.get(room.id, (0, False))
        room.unread_count = unread.get(room.id, 0)
        room.mention_count = mentioned.get(room.id, 0)
        room.last_read_seq = last_read
        room.muted = muted
        room.last_message = latest.get(room.id)
    return rooms


def set_muted(user: User, room_id: uuid.UUID, muted: bool) -> None:
    """Mute or unmute a room for one member (notifications only; counts still show)."""
    with write_transaction() as session:
        require_member(user.id, room_id)
        session.execute(
            update(RoomMember)
            .where(RoomMember.room_id == room_id, RoomMember.user_id == user.id)
            .values(muted=muted)
            .execution_options(synchronize_session=False)
        )


def mark_read(reader: User, room_id: uuid.UUID, seq: int) -> int:
    """Move the reader's read marker forward to ``seq`` (never back); returns the marker.

    A seq beyond the room's last message is clamped to it. Every socket of the
    reader hears ``read`` so that other tabs clear the same badge.
    """
    with write_transaction() as session:
        require_member(reader.id, room_id)
        last_seq = session.scalar(select(Room.last_seq).where(Room.id == room_id)) or 0
        target = min(seq, last_seq)
        session.execute(
            update(RoomMember)
            .where(
                RoomMember.room_id == room_id,
                RoomMember.user_id == reader.id,
                RoomMember.last_read_seq < target,
            )
            .values(last_read_seq=target)
            .execution_options(synchronize_session=False)
        )
        marker = session.scalar(
            select(RoomMember.last_read_seq).where(
                RoomMember.room_id == room_id, RoomMember.user_id == reader.id
            )
        )
    realtime.push_read(reader.id, room_id, marker)
    return marker


def typing(user: User, room_id: uuid.UUID, sid: str | None = None) -> None:
    """Tell the room's other sockets that the user is typing (members only)."""
    require_member(user.id, room_id)
    realtime.push_typing(user, room_id, skip_sid=sid)
