"""What is pushed to whom, after the commit: the one module that emits.

Every socket joins ``user:<id>`` (all of that user's sockets) and
``room:<id>`` for each chat room the user belongs to, chosen from the database
on connect and never from a name the client sends. Membership changes move the
user's open sockets in or out of the room's channel at once, on whichever instance
they are connected: ``socket_registry`` knows every instance's sids of a user or a
login, and python-socketio's Redis manager forwards ``enter_room``, ``leave_room`` and
``disconnect`` for a sid held elsewhere to the instance that holds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from .. import payloads
from ..extensions import socketio
from ..models import Message, Room
from ..schemas import RoomSchema, UserSchema, viewing_as
from . import socket_registry

NAMESPACE = "/"
# Where a socket's environ keeps its user between events (chat/socket_sessions.py).
KEPT_USER = "chat.socket_user"

_room_schema = RoomSchema()
_user_schema = UserSchema()


def room_channel(room_id: uuid.UUID | str) -> str:
    return f"room:{room_id}"


def user_channel(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def _user_sids(user_id: uuid.UUID | str) -> list[str]:
    """The user's sockets on *this* instance."""
    manager = socketio.server.manager
    return [sid for sid, _eio_sid in manager.get_participants(NAMESPACE, user_channel(user_id))]


def _sids_everywhere(channel: str) -> list[str]:
    """The sockets in ``channel`` on every instance (this one alone without Redis)."""
    return socket_registry.current().sids(channel)


def attach_socket(sid: str, user_id: uuid.UUID, login_token: str | None) -> None:
    """Put a freshly connected socket in its user's and its login's channels, and index it.

    Called *before* the socket's rooms are read from the database: a membership change
    committed after that read finds the socket in the index, and one committed before
    it is in what the read returns, so no join falls between the two.
    """
    channels = [user_channel(user_id)]
    if login_token:
        channels.append(session_channel(login_token))
    for channel in channels:
        socketio.server.enter_room(sid, channel, namespace=NAMESPACE)
    socket_registry.current().add(sid, channels)


def attach_rooms(sid: str, room_ids: Iterable[uuid.UUID]) -> None:
    """Subscribe one socket of this instance to rooms read from the database."""
    for room_id in room_ids:
        socketio.server.enter_room(sid, room_channel(room_id), namespace=NAMESPACE)


def detach_rooms(sid: str, room_ids: Iterable[uuid.UUID]) -> None:
    for room_id in room_ids:
        socketio.server.leave_room(sid, room_channel(room_id), namespace=NAMESPACE)


def detach_socket(sid: str) -> None:
    """Forget a closed socket (Socket.IO itself drops it from its rooms)."""
    socket_registry.current().remove(sid)


def subscribe_user(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Make every open socket of the user, on any instance, receive the room from now on."""
    for sid in _sids_everywhere(user_channel(user_id)):
        socketio.server.enter_room(sid, room_channel(room_id), namespace=NAMESPACE)


def unsubscribe_user(user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    """Stop every open socket of the user, on any instance, from receiving the room."""
    for sid in _sids_everywhere(user_channel(user_id)):
        socketio.server.leave_room(sid, room_channel(room_id), namespace=NAMESPACE)


def push_message(message: Message, origin_sid: str | None = None) -> None:
    """Send a committed message, with its id and seq, to the room's members.

    ``origin_sid``, the socket that sent it, is skipped: its acknowledgement already
    carries the message, and a second copy cost the sender a frame and the server a
    write before the ack (docs/api.md; docs/performance.md, item 25). The sender's
    other sockets get the push.
    """
    _push_change("message", message, origin_sid)


def push_message_updated(message: Message, origin_sid: str | None = None) -> None:
    _push_change("message_updated", message, origin_sid)


def push_message_deleted(message: Message, origin_sid: str | None = None) -> None:
    _push_change("message_deleted", message, origin_sid)


def _push_change(event: str, message: Message, origin_sid: str | None) -> None:
    socketio.emit(
        event,
        payloads.message_payload(message),
        to=room_channel(message.room_id),
        skip_sid=origin_sid,
    )


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
    # The user's sockets here keep a copy of the user (chat/socket_sessions.py): drop
    # it, they load it again. On other instances a send notices the change itself
    # (permissions.in_current_session, permissions.current_sender).
    for sid in _user_sids(user.id):
        environ = socketio.server.get_environ(sid, namespace=NAMESPACE)
        if environ is not None:
            environ.pop(KEPT_USER, None)


def push_read(user_id: uuid.UUID, room_id: uuid.UUID, seq: int) -> None:
    """The reader's own tabs learn the new read marker (their badges follow)."""
    socketio.emit("read", {"room_id": str(room_id), "seq": seq}, to=user_channel(user_id))


def push_typing(user: Any, room_id: uuid.UUID, skip_sid: str | None = None) -> None:
    socketio.emit(
        "typing",
        {"room_id": str(room_id), "user_id": str(user.id), "display_name": user.display_name},
        to=room_channel(room_id),
        skip_sid=skip_sid,
    )


def push_presence(changes: dict[uuid.UUID, bool], channels: Iterable[str]) -> None:
    """Who came online or went offline lately (``presence.PresenceBatch``), to their rooms.

    One emit to all the channels at once: a socket in several of them gets it once.
    Presence is no secret inside a deployment (the directory shows it to everyone), so
    a socket may hear of someone from a room it is not in.
    """
    users = [
        {"user_id": str(user_id), "online": online}
        for user_id, online in sorted(changes.items(), key=lambda item: str(item[0]))
    ]
    socketio.emit("presence", {"users": users}, to=sorted(channels))


def channels_of(sid: str) -> list[str]:
    """The chat-room channels one local socket is in: whoever shares a room sees presence."""
    rooms = socketio.server.manager.get_rooms(sid, NAMESPACE)
    return [name for name in rooms if name.startswith("room:")]


def other_sockets(user_id: uuid.UUID | str, sid: str) -> list[str]:
    """The user's sockets other than ``sid`` on every instance (presence: online anywhere)."""
    return [other for other in _sids_everywhere(user_channel(user_id)) if other != sid]


def session_channel(login_token: str) -> str:
    return f"session:{login_token}"


def disconnect_session(login_token: str) -> None:
    """Close every socket opened under one login, on any instance: told, then cut off.

    The emit reaches every instance through the message queue; the disconnects are
    forwarded by sid, after it, so each socket gets ``session_ended`` first.
    """
    channel = session_channel(login_token)
    socketio.emit("session_ended", {"reason": "logged_out"}, to=channel)
    for sid in _sids_everywhere(channel):
        socketio.server.disconnect(sid, namespace=NAMESPACE)


def push_resync_local() -> None:
    """Ask every client of *this* instance to catch up now (``sync``), without reconnecting.

    Sent when this instance's Redis subscription comes back after an outage: pushes
    published by other instances meanwhile never arrived, and a quiet room would not
    reveal the gap until its next message. Local only: other instances send their own.
    """
    server = socketio.server
    if server is not None:
        server.emit("resync", {"reason": "missed_pushes"}, namespace=NAMESPACE, ignore_queue=True)


def close_local_sockets() -> int:
    """Drop every socket of this instance at the transport, for a graceful shutdown.

    Not a Socket.IO disconnect (clients take that as final and stay offline): the
    Engine.IO connection is aborted, which clients treat as a lost connection and
    answer by reconnecting, through the load balancer, to an instance that is still
    up; their catch-up then fills what they missed. Returns how many were closed.
    """
    server = socketio.server
    engineio = getattr(server, "eio", None)
    if engineio is None:
        return 0
    sockets = [s for s in list(engineio.sockets.values()) if not (s.closed or s.closing)]
    for eio_socket in sockets:
        eio_socket.close(wait=False, abort=True)
    return len(sockets)


# ---- security: socket caps and password changes ---------------------------------


def socket_count(user_id: uuid.UUID | str) -> int:
    """How many sockets the user has open on this instance (the cap on connections)."""
    return len(_user_sids(user_id))


def disconnect_user_except_session(
    user_id: uuid.UUID | str, keep_login_token: str | None, reason: str
) -> int:
    """Close every socket of the user that was not opened under ``keep_login_token``.

    Used after a password change: the other logins are signed out, and their open
    sockets, which hold their own copy of the old session, must not outlive that.
    Each is told why (``session_ended``), then cut off, on whichever instance it is.
    Returns how many were closed.
    """
    kept = set(_sids_everywhere(session_channel(keep_login_token))) if keep_login_token else set()
    closing = [sid for sid in _sids_everywhere(user_channel(user_id)) if sid not in kept]
    for sid in closing:
        socketio.emit("session_ended", {"reason": reason}, to=sid)
    for sid in closing:
        socketio.server.disconnect(sid, namespace=NAMESPACE)
    return len(closing)


def refresh_session_sockets(login_token: str, values: dict[str, Any]) -> None:
    """Update the session copy that each socket of one login keeps (Flask-SocketIO).

    A socket reads the session once, at connect, and keeps that copy
    (``manage_session=True``). When a password change renews the login's user id
    (its session epoch), the login's own sockets get the new id too, so that they
    keep working while every other login's copy stops being accepted. Only this
    instance's sockets can be reached (the copy lives in the socket's environ); a
    socket of this login held by another instance is refused at its next event and
    reconnects with the renewed cookie.
    """
    server = socketio.server
    channel = session_channel(login_token)
    for sid, _eio_sid in list(server.manager.get_participants(NAMESPACE, channel)):
        environ = server.get_environ(sid, namespace=NAMESPACE)
        saved = environ.get("saved_session") if environ else None
        if saved is not None:
            saved.update(values)


def close_refused_connection(sid: str, delay: float = 2.0) -> None:
    """Close the Engine.IO connection under a refused Socket.IO connect, after ``delay``.

    python-socketio answers a refused connect with an error packet but keeps the
    Engine.IO session (and its ping greenlet) until the client closes it or misses
    its pings, ~45 s later: a flood of handshakes without a session would pile
    those up. The delay lets the client read why it was refused first.
    """
    server = socketio.server
    eio_sid = server.manager.eio_sid_from_sid(sid, NAMESPACE)
    if eio_sid is None:
        return

    def close_later() -> None:
        socketio.sleep(delay)
        # Not eio.disconnect(): it waits for the client to fetch a CLOSE packet, which a
        # client that stopped polling never does. Abort, and forget the session.
        eio_socket = server.eio.sockets.pop(eio_sid, None)
        if eio_socket is not None:
            eio_socket.close(wait=False, abort=True)

    socketio.start_background_task(close_later)
