"""Who is online now: a user with at least one open socket on this server.

Every socket of a user sits in the ``user:<id>`` channel from its connect until its
disconnect (``realtime.attach_socket``; Socket.IO drops a closed socket from all its
channels), so the channel's participants *are* the user's open sockets: nothing has
to be counted, and no count can drift when a process dies.

The socket manager only knows this process's sockets. That is the whole truth for
the supported single-instance deployment; with several instances joined by
``REDIS_URL`` a user connected to another instance shows as offline here. A shared
presence store (a Redis set per user with expiring heartbeats) would replace this
module's two functions without touching their callers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ..extensions import socketio
from . import realtime


def is_online(user_id: uuid.UUID) -> bool:
    server = socketio.server
    if server is None:
        return False
    participants = server.manager.get_participants(
        realtime.NAMESPACE, realtime.user_channel(user_id)
    )
    return next(iter(participants), None) is not None


def online_among(user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The subset of ``user_ids`` that have an open socket."""
    return {user_id for user_id in user_ids if is_online(user_id)}
