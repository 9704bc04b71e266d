"""A pooled database connection is checked at checkout without a round trip when it can be.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` at every checkout, so that a
connection the server dropped while it sat in the pool (a restart, a failover, an
idle timeout) is replaced instead of failing the request. That is a round trip to
PostgreSQL per request and per batch of sends: one of the three of a history page,
one of the four of a lone send (docs/performance.md, item 28).

A connection the server closed while idle has something waiting on its socket: the
server's goodbye (``FATAL: terminating connection``) and the end of the stream, or a
reset. Between requests nothing else arrives on an idle PostgreSQL connection of this
app (it never LISTENs), so a socket with nothing to read is a connection the server
has not dropped, and needs no ping. When there is something to read, the real ping
decides, exactly as ``pool_pre_ping`` would: a dead connection makes SQLAlchemy
replace every pooled connection older than now (the server restarted: they are all
dead), a live one (a stray notice) is kept, and one that fails otherwise is
replaced alone.

What a socket cannot show is a connection dropped on the way without a word to
either end: a load balancer's or a NAT's idle timeout (AWS's NLB forgets a flow
after 350 s), a failover that moved the server's address. The next packet on it
gets a reset, or nothing. So a connection that sat in the pool longer than
``PING_AFTER_IDLE_SECONDS`` is pinged as before; a busy pool, where the saving
matters, hands its connections out again long before that.
"""

from __future__ import annotations

import select
import time
from typing import Any

from gevent.monkey import get_original
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError

#: A connection idle in the pool longer than this is pinged whatever its socket shows:
#: well below the idle timeouts of load balancers and NATs (minutes).
PING_AFTER_IDLE_SECONDS = 30.0

# The operating system's poll, even in a gevent-patched process: gevent's would
# switch to the hub to answer a question that a zero-timeout system call answers.
_system_poll = get_original("select", "poll")
# Data, or the end of the stream (POLLERR, POLLHUP and POLLNVAL come unasked).
_READABLE = select.POLLIN | select.POLLPRI
_IDLE_SINCE = "chat_idle_since"  # in the connection record's info


def check_at_checkout(engine: Engine) -> None:
    """Check each connection that ``engine``'s pool hands out, pinging only the ones
    that may have been dropped (``pool_pre_ping`` pings every one)."""
    dialect = engine.dialect
    driver_error = dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None:
            return  # just connected
        idle_too_long = time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS
        if not idle_too_long and not _may_be_dropped(dbapi_connection, driver_error):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except driver_error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The server went away: SQLAlchemy replaces this connection and every
                # older one (all dead after a restart), then retries.
                raise InvalidatePoolError(f"pooled connection dropped: {error}") from error
            raise DisconnectionError(f"pooled connection unusable: {error}") from error


def _may_be_dropped(dbapi_connection: Any, driver_error: type[Exception]) -> bool:
    """Whether the server may have closed ``dbapi_connection``: its socket has something
    to read, or it has no socket to look at (then only a ping can tell)."""
    try:
        descriptor = dbapi_connection.fileno()
    except (AttributeError, driver_error):
        return True
    poller = _system_poll()
    poller.register(descriptor, _READABLE)
    return bool(poller.poll(0))
