"""A socket's life on the server: what its connect subscribes, what its disconnect forgets.

Kept apart from the socket handlers so that the ordering rules live in one place:

1. the socket enters ``user:<id>`` and ``session:<token>`` and is indexed in
   ``socket_registry`` *first*: from then on a membership change made anywhere finds
   it;
2. then its rooms are read from the database and entered;
3. then they are read once more, in a new transaction, and the difference is
   applied. A leave committed while the first read ran (PostgreSQL answers it from a
   snapshot taken before the leave, and the leave's ``leave_room`` can be handled
   while this greenlet waits for the answer) would otherwise leave the socket in a
   room its user no longer belongs to, hearing its messages until it reconnects.
"""

from __future__ import annotations

import uuid

from ..extensions import db
from . import realtime
from .rooms import room_ids_of


def attach(sid: str, user_id: uuid.UUID, login_token: str | None) -> list[uuid.UUID]:
    """Subscribe a freshly connected socket; returns the rooms it ended up in.

    If the database fails half-way, the socket is taken out of the index again and
    the error propagates (the handshake is then refused).
    """
    realtime.attach_socket(sid, user_id, login_token)
    try:
        first = set(room_ids_of(user_id))
        realtime.attach_rooms(sid, first)
        db.session.commit()  # a new snapshot for the second read (SQLite and PostgreSQL)
        second = set(room_ids_of(user_id))
    except BaseException:
        db.session.rollback()
        realtime.detach_socket(sid)
        raise
    realtime.detach_rooms(sid, first - second)
    realtime.attach_rooms(sid, second - first)
    return sorted(second, key=str)


def detach(sid: str) -> None:
    """Forget a closed socket in the cross-instance index."""
    realtime.detach_socket(sid)
