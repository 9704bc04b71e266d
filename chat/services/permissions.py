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

from sqlalchemy import bindparam, exists, select

from ..errors import Forbidden, NotFound
from ..extensions import db
from ..models import Message, Room, RoomMember

ROOM_NOT_FOUND = "No such room, or you are not a member of it."
MESSAGE_NOT_FOUND = "No such message."


# Built once: asked on every send and read, and building the statement cost more than
# running it (docs/performance.md).
_IS_MEMBER = select(
    exists().where(
        RoomMember.room_id == bindparam("room_id"), RoomMember.user_id == bindparam("user_id")
    )
)


def is_member(user_id: uuid.UUID, room_id: uuid.UUID) -> bool:
    return bool(db.session.scalar(_IS_MEMBER, {"room_id": room_id, "user_id": user_id}))


def require_member(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Raise 404 unless the user belongs to the room (the read/write rule for room content)."""
    if not is_member(user_id, room_id):
        raise NotFound(ROOM_NOT_FOUND)


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
