"""Posting messages and reading history.

A message is committed before anyone hears of it (the seed's first bug was the
reverse). Its ``seq`` comes from ``rooms.last_seq``, incremented by an UPDATE in
the same transaction as the insert: the row lock (PostgreSQL) or the write lock
(SQLite, ``BEGIN IMMEDIATE``) serialises senders, and a rollback gives the number
back, so seqs are 1, 2, 3, ... with no gap and no repeat.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..database import write_transaction
from ..errors import Conflict
from ..extensions import db
from ..models import Message, Room, User, utcnow
from . import realtime
from .rooms import require_member


def _stored_retry(sender_id: uuid.UUID, client_id: str, room_id: uuid.UUID) -> Message | None:
    """The message an earlier attempt of this send stored, if any."""
    message = db.session.scalar(
        select(Message).where(Message.sender_id == sender_id, Message.client_id == client_id)
    )
    if message is not None and message.room_id != room_id:
        raise Conflict(
            "This client_id was already used for a message in another room.",
            code="client_id_reused",
        )
    return message


def post_message(
    sender: User, room_id: uuid.UUID, body: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Store a message and push it to the room; returns ``(message, created)``.

    A repeated ``client_id`` returns the stored message with ``created=False``
    and pushes nothing: the first attempt already did.
    """
    try:
        with write_transaction() as session:
            require_member(sender.id, room_id)
            if client_id is not None:
                stored = _stored_retry(sender.id, client_id, room_id)
                if stored is not None:
                    return stored, False
            now = utcnow()
            seq = session.execute(
                update(Room)
                .where(Room.id == room_id)
                .values(last_seq=Room.last_seq + 1, last_activity_at=now)
                .returning(Room.last_seq)
                .execution_options(synchronize_session=False)
            ).scalar_one()
            message = Message(
                room_id=room_id,
                sender=sender,
                seq=seq,
                body=body,
                client_id=client_id,
                created_at=now,
            )
            session.add(message)
    except IntegrityError:
        # Two attempts of the same send raced (PostgreSQL, several processes):
        # the loser's transaction, seq included, was rolled back.
        if client_id is None:
            raise
        stored = _stored_retry(sender.id, client_id, room_id)
        if stored is None:
            raise
        return stored, False
    realtime.push_message(message)
    return message, True


def history(
    reader: User,
    room_id: uuid.UUID,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Message]:
    """One page of a room's messages in ascending seq, by keyset on ``(room_id, seq)``.

    ``after`` pages forward from a known seq (catch-up); ``before`` pages back
    from one (scrolling up); neither gives the newest page.
    """
    require_member(reader.id, room_id)
    query = select(Message).where(Message.room_id == room_id)
    if before is not None:
        query = query.where(Message.seq < before)
    if after is not None:
        query = query.where(Message.seq > after).order_by(Message.seq.asc()).limit(limit)
        return list(db.session.scalars(query))
    newest_first = query.order_by(Message.seq.desc()).limit(limit)
    return list(reversed(list(db.session.scalars(newest_first))))
