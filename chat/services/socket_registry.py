"""Which sockets a Socket.IO channel has on *every* instance: the index behind cross-instance
membership changes, logout and presence.

Socket.IO keeps its rooms per process. With one instance that is the whole truth, and
:class:`LocalRegistry` simply asks the local manager. With several instances joined by
``REDIS_URL``, python-socketio's Redis manager forwards ``enter_room``, ``leave_room`` and
``disconnect`` for a sid it does not hold to the instance that does (its pub/sub
messages of those names), but nothing tells an instance which sids a *user* has
elsewhere. :class:`RedisRegistry` is that index:

- ``<ns>:sockets:<channel>``: a hash ``sid -> instance id`` for each indexed channel
  (``user:<id>`` and ``session:<login token>``), written on connect, removed on
  disconnect;
- ``<ns>:instance:<id>``: the instance's heartbeat, renewed every third of
  ``PRESENCE_TTL_SECONDS``. An entry whose instance has no heartbeat is dead (the
  instance was killed, or lost Redis for longer than the TTL): readers ignore it and
  delete it, so a user whose only instance died is offline within the TTL;
- ``<ns>:instance:<id>:entries``: the instance's own entries, so that after a Redis
  restart or a failed write it can put back exactly what is true and remove what is
  not (a "resync").

Each instance also keeps its own sockets in memory: that copy is the truth the
index is rebuilt from, and it is why Redis trouble only degrades the index (local
sockets keep working; remote ones are found again after the next heartbeat) instead
of breaking connects. While Redis is unreachable, writes are skipped rather than
retried per socket; the first heartbeat that reaches Redis again resyncs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app

from ..extensions import socketio

log = logging.getLogger(__name__)

NAMESPACE = "/"
_EXTENSION_KEY = "chat_socket_registry"


class LocalRegistry:
    """One instance, no Redis: the local Socket.IO manager is the index."""

    instance_id = "local"

    def add(self, sid: str, channels: Iterable[str]) -> None:
        """Nothing to record: the socket is already in the manager's rooms."""

    def remove(self, sid: str) -> None:
        """Nothing to forget: Socket.IO drops a closed socket from all its rooms."""

    def local_sids(self, channel: str) -> list[str]:
        """This instance's open sockets in ``channel``.

        Not those that are closing: python-socketio keeps a socket in its rooms until
        its disconnect handler has returned. Two sockets of one user closing at once
        (on Redis, whose calls yield) would each count the other as still open, and
        neither would tell that the user went offline. A socket still connecting does
        count (not ``manager.is_connected``, which refuses both): its connect handler
        put it in its channels so that a membership change made meanwhile finds it.
        """
        server = socketio.server
        if server is None:
            return []
        manager = server.manager
        closing = manager.pending_disconnect.get(NAMESPACE, ())
        return [
            sid for sid, _eio in manager.get_participants(NAMESPACE, channel) if sid not in closing
        ]

    def sids(self, channel: str) -> list[str]:
        """Every open socket in ``channel``, wherever it is connected."""
        return self.local_sids(channel)

    def connected(self, channels: Iterable[str]) -> set[str]:
        """The channels among ``channels`` that have at least one open socket anywhere."""
        return {channel for channel in channels if self.local_sids(channel)}

    def health(self) -> str:
        """The state of the shared store: "disabled" here; raises when Redis does not answer."""
        return "disabled"

    def close(self) -> None:
        """Called at shutdown, after the local sockets were closed."""


class RedisRegistry(LocalRegistry):
    """Several instances: the index lives in Redis, kept honest by instance heartbeats."""

    def __init__(self, url: str, namespace: str, ttl_seconds: int) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One retry on a fresh connection covers a pooled connection that died with a
        # Redis restart; more (redis-py retries 10 times with backoff by default) would
        # hold a connecting socket for seconds while Redis is down.
        self.client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=1,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 1),
        )
        self.namespace = namespace
        self.ttl = max(1, int(ttl_seconds))
        self.interval = max(0.5, self.ttl / 3)
        self.instance_id = uuid.uuid4().hex
        self._local: dict[str, tuple[str, ...]] = {}
        # Serialises index writes with a resync, so that a resync's snapshot of the
        # local sockets cannot drop an entry written while it ran.
        self._lock = threading.RLock()
        # True until a write or resync has reached Redis: writes are skipped meanwhile
        # and the next heartbeat rebuilds everything.
        self._dirty = True
        self._heartbeat_started = False
        self._stopped = False

    # ---- keys ------------------------------------------------------------------------

    def _channel_key(self, channel: str) -> str:
        return f"{self.namespace}:sockets:{channel}"

    def _instance_key(self, instance_id: str) -> str:
        return f"{self.namespace}:instance:{instance_id}"

    @property
    def _entries_key(self) -> str:
        return f"{self.namespace}:instance:{self.instance_id}:entries"

    # ---- writes (connect, disconnect) ------------------------------------------------

    def add(self, sid: str, channels: Iterable[str]) -> None:
        channels = tuple(channels)
        with self._lock:
            self._local[sid] = channels
            self._start_heartbeat()
            if self._dirty:
                return  # the next successful heartbeat writes it
            try:
                pipe = self.client.pipeline()
                for channel in channels:
                    pipe.hset(self._channel_key(channel), sid, self.instance_id)
                pipe.sadd(self._entries_key, *(_entry(channel, sid) for channel in channels))
                pipe.expire(self._entries_key, self.ttl)
                pipe.execute()
            except Exception as error:
                self._lost(error)

    def remove(self, sid: str) -> None:
        with self._lock:
            channels = self._local.pop(sid, None)
            if not channels or self._dirty:
                return
            try:
                pipe = self.client.pipeline()
                for channel in channels:
                    pipe.hdel(self._channel_key(channel), sid)
                pipe.srem(self._entries_key, *(_entry(channel, sid) for channel in channels))
                pipe.execute()
            except Exception as error:
                self._lost(error)

    def _lost(self, error: Exception) -> None:
        if not self._dirty:
            log.warning("socket registry: Redis unreachable (%s); local sockets only", error)
        self._dirty = True

    # ---- reads ---------------------------------------------------------------------------

    def sids(self, channel: str) -> list[str]:
        remote = self._remote([channel]).get(channel, [])
        return self.local_sids(channel) + remote

    def connected(self, channels: Iterable[str]) -> set[str]:
        channels = list(channels)
        local = {channel for channel in channels if self.local_sids(channel)}
        others = [channel for channel in channels if channel not in local]
        if not others:
            return local
        return local | {channel for channel, sids in self._remote(others).items() if sids}

    def _remote(self, channels: list[str]) -> dict[str, list[str]]:
        """The live sids of other instances in each channel; dead instances' entries go."""
        try:
            pipe = self.client.pipeline(transaction=False)
            for channel in channels:
                pipe.hgetall(self._channel_key(channel))
            tables: list[dict[str, str]] = pipe.execute()
            owners = sorted(
                {owner for table in tables for owner in table.values()} - {self.instance_id}
            )
            if not owners:
                return {}
            beats = self.client.mget([self._instance_key(owner) for owner in owners])
            alive = {owner for owner, beat in zip(owners, beats, strict=True) if beat}
            found: dict[str, list[str]] = {}
            dead: list[tuple[str, str]] = []
            for channel, table in zip(channels, tables, strict=True):
                for sid, owner in table.items():
                    if owner == self.instance_id:
                        continue  # local sockets come from the local manager, exactly
                    if owner in alive:
                        found.setdefault(channel, []).append(sid)
                    else:
                        dead.append((channel, sid))
            if dead:
                cleanup = self.client.pipeline(transaction=False)
                for channel, sid in dead:
                    cleanup.hdel(self._channel_key(channel), sid)
                cleanup.execute()
            return found
        except Exception as error:
            log.warning("socket registry: cannot read Redis (%s); local sockets only", error)
            return {}

    def health(self) -> str:
        self.client.ping()
        return "ok"

    # ---- heartbeat -------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        """Begin renewing this instance's heartbeat (on its first socket, in the server).

        Started lazily so that CLI commands and the in-process tests, which create the
        app but never hold a socket, leave nothing behind in Redis. The first beat runs
        at once so that other instances see this one alive before its sockets matter.
        """
        if self._heartbeat_started:
            return
        self._heartbeat_started = True
        self.beat()
        socketio.start_background_task(self._heartbeat_loop)

    def _heartbeat_loop(self) -> None:
        while not self._stopped:
            socketio.sleep(self.interval)
            if not self._stopped:
                self.beat()

    def beat(self) -> None:
        """Renew the heartbeat; rebuild the index if Redis lost it or a write failed."""
        try:
            previous = self.client.set(
                self._instance_key(self.instance_id), "1", ex=self.ttl, get=True
            )
            if previous is None or self._dirty:
                self.resync()
            else:
                self.client.expire(self._entries_key, self.ttl)
        except Exception as error:
            self._lost(error)

    def resync(self) -> None:
        """Make Redis hold exactly this instance's open sockets (after Redis came back)."""
        with self._lock:
            current = {
                _entry(channel, sid)
                for sid, channels in self._local.items()
                for channel in channels
            }
            stored = set(self.client.smembers(self._entries_key))
            pipe = self.client.pipeline()
            for entry in stored - current:
                channel, sid = _split(entry)
                pipe.hdel(self._channel_key(channel), sid)
            for entry in current:
                channel, sid = _split(entry)
                pipe.hset(self._channel_key(channel), sid, self.instance_id)
            pipe.delete(self._entries_key)
            if current:
                pipe.sadd(self._entries_key, *current)
                pipe.expire(self._entries_key, self.ttl)
            pipe.set(self._instance_key(self.instance_id), "1", ex=self.ttl)
            pipe.execute()
            if self._dirty:
                log.info("socket registry: Redis reachable; %d socket(s) indexed", len(self._local))
            self._dirty = False

    def close(self) -> None:
        """Leave the index at shutdown: other instances stop counting this one at once."""
        self._stopped = True
        with self._lock:
            try:
                pipe = self.client.pipeline()
                for sid, channels in self._local.items():
                    for channel in channels:
                        pipe.hdel(self._channel_key(channel), sid)
                pipe.delete(self._entries_key, self._instance_key(self.instance_id))
                pipe.execute()
            except Exception as error:
                log.warning("socket registry: could not leave Redis cleanly (%s)", error)
            self._local.clear()


def _entry(channel: str, sid: str) -> str:
    return f"{channel}\n{sid}"


def _split(entry: str) -> tuple[str, str]:
    channel, _, sid = entry.partition("\n")
    return channel, sid


def init_app(app: Flask) -> LocalRegistry:
    """Choose the registry for this app: Redis-backed when ``REDIS_URL`` is set."""
    url = app.config.get("REDIS_URL")
    registry: LocalRegistry
    if url:
        registry = RedisRegistry(
            url, app.config["REDIS_NAMESPACE"], app.config["PRESENCE_TTL_SECONDS"]
        )
    else:
        registry = LocalRegistry()
    app.extensions[_EXTENSION_KEY] = registry
    return registry


def current() -> LocalRegistry:
    return current_app.extensions[_EXTENSION_KEY]


def message_queue(app: Flask) -> Any:
    """Flask-SocketIO's client manager: a Redis manager, or None (the local manager).

    Built here rather than from ``message_queue=REDIS_URL`` for two reasons:

    - Redis options: the default client retries a failed publish ten times with
      backoff, which would hold every send's acknowledgement for seconds while Redis
      is down (the message is committed by then; catch-up brings it to readers on
      other instances). No read timeout: the listener blocks on its subscription.
    - Recovery (:class:`_RecoveringRedisManager`): the listener retries every few
      seconds at most, and after each resubscription it tells this instance's
      clients to catch up, since whatever was published meanwhile never reached them.
    """
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return _manager_class()(
        url,
        channel=f"{app.config['REDIS_NAMESPACE']}:socketio",
        redis_options={
            "socket_connect_timeout": 1,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 1),
        },
    )


# The listener's longest wait between two attempts to resubscribe (python-socketio's own
# loop doubles it up to 60 s, which would keep an instance deaf for a minute).
LISTEN_RETRY_MAX_SECONDS = 4.0


def _manager_class() -> type:
    """The Redis manager subclass, built on first use (redis and socketio load lazily)."""
    import time

    import redis
    from socketio import RedisManager

    class NotifyingPubSub(redis.client.PubSub):
        """A subscription that reports its silent reconnects (redis-py resubscribes by itself)."""

        def __init__(self, *args: Any, on_reconnect: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._on_reconnect = on_reconnect

        def on_connect(self, connection: Any) -> None:
            super().on_connect(connection)
            self._on_reconnect()

    class RecoveringRedisManager(RedisManager):
        """python-socketio's Redis manager, with a bounded retry and a catch-up hint."""

        def _redis_listen_with_retries(self) -> Any:
            # A copy of the library's loop (python-socketio 5.x) with two changes: the wait
            # is capped, and a resubscription after a failure asks clients to resync.
            retry_sleep = 0.5
            pubsub = None
            failed = False
            while True:
                try:
                    if pubsub is None:
                        self._redis_connect()
                        pubsub = NotifyingPubSub(
                            self.redis.connection_pool,
                            ignore_subscribe_messages=True,
                            on_reconnect=_subscription_resumed,
                        )
                        pubsub.subscribe(self.channel)
                        retry_sleep = 0.5
                        if failed:
                            _subscription_resumed()
                    yield from pubsub.listen()
                except Exception as error:
                    log.warning(
                        "Redis subscription lost (%s); retrying in %.1fs", error, retry_sleep
                    )
                    pubsub = None
                    failed = True
                    time.sleep(retry_sleep)
                    retry_sleep = min(retry_sleep * 2, LISTEN_RETRY_MAX_SECONDS)

    return RecoveringRedisManager


def _subscription_resumed() -> None:
    """Redis is back for this instance's listener: its clients may have missed pushes."""
    from . import realtime

    log.info("Redis subscription resumed; asking this instance's clients to resync")
    realtime.push_resync_local()
