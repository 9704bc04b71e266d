"""Who is online now: a user with at least one open socket on any instance.

Every socket of a user sits in the ``user:<id>`` channel from its connect until its
disconnect (``realtime.attach_socket``), so the channel's sockets *are* the user's
open sockets: nothing is counted, and no count can drift when a process dies.

``socket_registry`` answers for the channel on every instance: the local Socket.IO
manager for this one, and, with ``REDIS_URL``, the Redis index for the others, whose
entries count only while their instance renews its heartbeat. So a user whose only
instance was killed goes offline within ``PRESENCE_TTL_SECONDS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from . import realtime, socket_registry


def is_online(user_id: uuid.UUID) -> bool:
    return user_id in online_among([user_id])


def online_among(user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The subset of ``user_ids`` that have an open socket (one Redis round trip for all)."""
    by_channel = {realtime.user_channel(user_id): user_id for user_id in user_ids}
    connected = socket_registry.current().connected(by_channel)
    return {by_channel[channel] for channel in connected}
