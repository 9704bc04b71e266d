"""``@name`` mentions: which members a message names.

Names may hold spaces and any script, so a mention is not parsed out of the text;
instead each member's display name is looked for after an ``@``, case-insensitively,
ending where a word ends ("@Al" does not mention Al in "@Alice"). Only members of
the room can be mentioned, and never the sender.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ..models import MessageMention, Profile, RoomMember


def _names_at(body: str, name: str) -> bool:
    text, wanted = body.casefold(), "@" + name.casefold()
    start = text.find(wanted)
    while start != -1:
        end = start + len(wanted)
        if end == len(text) or not (text[end].isalnum() or text[end] == "_"):
            return True
        start = text.find(wanted, start + 1)
    return False


def may_mention(body: str) -> bool:
    """Whether ``body`` can mention anyone: without an ``@`` it cannot, and nobody's
    names need reading."""
    return "@" in body


def mentioned_members(
    reader: Session | Connection,
    room_id: uuid.UUID,
    body: str,
    sender_id: uuid.UUID,
    room_names: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] | None = None,
) -> list[uuid.UUID]:
    """The members (not the sender) that ``body`` mentions; no query unless it holds an @.

    ``reader`` is the caller's transaction: an edit's session, or a batch's connection.
    ``room_names`` keeps each room's member names for the caller (a batch of sends),
    so that several messages to one room read them once.
    """
    if not may_mention(body):
        return []
    if room_names is None:
        room_names = {}
    if room_id not in room_names:
        room_names[room_id] = reader.execute(
            select(RoomMember.user_id, Profile.display_name)
            .join(Profile, Profile.user_id == RoomMember.user_id)
            .where(RoomMember.room_id == room_id)
        ).all()
    return sorted(
        user_id
        for user_id, name in room_names[room_id]
        if user_id != sender_id and name and _names_at(body, name)
    )


def as_rows(user_ids: list[uuid.UUID]) -> list[MessageMention]:
    return [MessageMention(user_id=user_id) for user_id in user_ids]
