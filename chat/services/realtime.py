"""What is pushed to whom, after the commit: the one module that emits.

Every socket joins ``user:<id>`` (all of that user's sockets) and
``room:<id>`` for each chat room the user belongs to, chosen from the database
on connect and never from a name the client sends. Membership changes move the
user's open sockets in or out of the room's channel at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..extensions import socketio
from ..models import Message, Room
from ..schemas import MessageSchema, RoomSchema, UserSchema, viewing_as

NAMESPACE = "/"

_message_schema = MessageSchema()
_room_schema = RoomSchema()
_user_schema = UserSchema()


def room_channel(room_id: uuid.UUID | str) -> str:
    return f"room:{room_id}"


def user_channel(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def _user_sids(user_id: uuid.UUID | str) -> list[str]:
    manager = socketio.server.manager
    return [sid for sid, _eio_sid in manager.get_participants(NAMESPACE, user_channel(user_id))]


def attach_socket(sid: str, user_id: uuid.UUID, room_ids: list[uuid.UUID]) -> None:
    """Subscribe a freshly connected socket to its user's channel and rooms."""
    socketio.server.enter_room(sid, user_channel(user_id), namespace=NAMESPACE)
    for room_id in room_ids:
        socketio.server.enter_room(sid, room_channel(room_id), namespace=NAMESPACE)


def subscribe_user(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Make every open socket of the user receive the room from now on."""
    for sid in _user_sids(user_id):
        socketio.server.enter_room(sid, room_channel(room_id), namespace=NAMESPACE)


def unsubscribe_user(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Stop every open socket of the user from receiving the room."""
    for sid in _user_sids(user_id):
        socketio.server.leave_room(sid, room_channel(room_id), namespace=NAMESPACE)


def message_payload(message: Message) -> dict[str, Any]:
    return _message_schema.dump(message)


def push_message(message: Message) -> None:
    """Send a committed message, with its id and seq, to the room's members."""
    socketio.emit("message", message_payload(message), to=room_channel(message.room_id))


def push_message_updated(message: Message) -> None:
    socketio.emit("message_updated", message_payload(message), to=room_channel(message.room_id))


def push_message_deleted(message: Message) -> None:
    socketio.emit("message_deleted", message_payload(message), to=room_channel(message.room_id))


def push_member_joined(room: Room, user: Any) -> None:
    socketio.emit(
        "member_joined",
        {"room_id": str(room.id), "user": _user_schema.dump(user)},
        to=room_channel(room.id),
    )


def push_member_left(room_id: uuid.UUID, user_id: uuid.UUID) -> None:
    socketio.emit(
        "member_left",
        {"room_id": str(room_id), "user_id": str(user_id)},
        to=room_channel(room_id),
    )


def room_payload(room: Room, viewer_id: uuid.UUID) -> dict[str, Any]:
    """The room as one member sees it (a direct room is titled with the other's name)."""
    with viewing_as(viewer_id):
        return _room_schema.dump(room)


def push_room_added(room: Room, user_id: uuid.UUID) -> None:
    """Tell the user's other tabs and devices that a room joined their list."""
    socketio.emit("room_added", {"room": room_payload(room, user_id)}, to=user_channel(user_id))


def push_room_created(room: Room, member_ids: list[uuid.UUID]) -> None:
    """A direct room was created: each member's sockets (already subscribed) hear of it."""
    for member_id in member_ids:
        socketio.emit(
            "room_created", {"room": room_payload(room, member_id)}, to=user_channel(member_id)
        )


def push_user_updated(user: Any, room_ids: list[uuid.UUID]) -> None:
    """A changed name or avatar, to everyone sharing a room with the user and to their tabs.

    One emit to all those channels at once: a socket in several of them gets it once.
    """
    channels = [user_channel(user.id), *(room_channel(room_id) for room_id in room_ids)]
    socketio.emit("user_updated", {"user": _user_schema.dump(user)}, to=channels)


def session_channel(login_token: str) -> str:
    return f"session:{login_token}"


def attach_session(sid: str, login_token: str) -> None:
    socketio.server.enter_room(sid, session_channel(login_token), namespace=NAMESPACE)


def disconnect_session(login_token: str) -> None:
    """Close every socket opened under one login: the client is told, then cut off."""
    channel = session_channel(login_token)
    socketio.emit("session_ended", {"reason": "logged_out"}, to=channel)
    manager = socketio.server.manager
    for sid, _eio_sid in list(manager.get_participants(NAMESPACE, channel)):
        socketio.server.disconnect(sid, namespace=NAMESPACE)
