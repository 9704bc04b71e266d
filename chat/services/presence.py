"""Who is online now: a user with at least one open socket on any instance.

Every socket of a user sits in the ``user:<id>`` channel from its connect until its
disconnect (``realtime.attach_socket``), so the channel's sockets *are* the user's
open sockets: nothing is counted, and no count can drift when a process dies.

``socket_registry`` answers for the channel on every instance: the local Socket.IO
manager for this one, and, with ``REDIS_URL``, the Redis index for the others, whose
entries count only while their instance renews its heartbeat. So a user whose only
instance was killed goes offline within ``PRESENCE_TTL_SECONDS``.

Changes are told in batches (``PresenceBatch``): a first connect or a last
disconnect is queued, and every ``PRESENCE_BATCH_SECONDS`` one ``presence`` event
lists who came and went, with their state read at that moment. Told one by one, n
members of a room connecting (a deploy's reconnect wave, a morning) cost n² packets:
a million for 1,000 members, seconds of CPU of the server and of every browser.
Batched, it is one packet per socket and batch. Reading the state when the batch
goes out also folds a reload (a last disconnect, then a first connect) into nothing
more than "online".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from flask import Flask, current_app

from ..extensions import socketio
from . import realtime, socket_registry

log = logging.getLogger(__name__)
_EXTENSION_KEY = "chat.presence_batch"


def is_online(user_id: uuid.UUID) -> bool:
    return user_id in online_among([user_id])


def online_among(user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The subset of ``user_ids`` that have an open socket (one Redis round trip for all)."""
    by_channel = {realtime.user_channel(user_id): user_id for user_id in user_ids}
    connected = socket_registry.current().connected(by_channel)
    return {by_channel[channel] for channel in connected}


class PresenceBatch:
    """This instance's presence changes waiting to be told, and the greenlet that tells them."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        # user id -> the room channels to tell (those of the sockets that came or went)
        self.pending: dict[uuid.UUID, set[str]] = {}
        self.running = False

    def add(self, user_id: uuid.UUID, channels: Iterable[str]) -> None:
        self.pending.setdefault(user_id, set()).update(channels)
        if not self.running:
            self.running = True
            socketio.start_background_task(self._run)

    def _run(self) -> None:
        try:
            while self.pending:
                socketio.sleep(self.interval)
                self.flush()
        finally:
            self.running = False

    def flush(self) -> None:
        """Tell what is pending: each user's state now, to all their rooms' channels at once."""
        pending, self.pending = self.pending, {}
        if not pending:
            return
        try:
            with self.app.app_context():
                online = online_among(pending)
                changes = {user_id: user_id in online for user_id in pending}
                realtime.push_presence(changes, set().union(*pending.values()))
        except Exception:
            # Presence is a hint (the directory and the room page read it afresh): a
            # lost batch must not stop the next ones.
            log.exception("presence batch of %d users failed", len(pending))


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION_KEY] = PresenceBatch(app, app.config["PRESENCE_BATCH_SECONDS"])


def socket_came_or_went(user_id: uuid.UUID, sid: str) -> None:
    """A socket connected or is closing: if it is the user's only one anywhere, the user
    came online or went offline, and the rooms it is in hear so in the next batch."""
    if realtime.other_sockets(user_id, sid):
        return  # another tab or device: the user was, and stays, online
    channels = realtime.channels_of(sid)
    if channels:
        current_app.extensions[_EXTENSION_KEY].add(user_id, channels)
