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
dead), and a live one (a stray notice) is kept.

What neither check sees is a server that vanished without a word (a network path
cut, a machine powered off): ``SELECT 1`` would wait for TCP to give up just as the
request's own statement does, so nothing is lost by not sending it.
"""

from __future__ import annotations

import select
from typing import Any

from gevent.monkey import get_original
from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError

# The operating system's poll, even in a gevent-patched process: gevent's would
# switch to the hub to answer a question that a zero-timeout system call answers.
_system_poll = get_original("select", "poll")
_READABLE = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


def check_at_checkout(engine: Engine) -> None:
    """Check each connection that ``engine``'s pool hands out, pinging only the ones
    whose socket has something to read (``pool_pre_ping`` pings every one)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not _may_be_dropped(dbapi_connection, dialect.loaded_dbapi.Error):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # SQLAlchemy replaces this connection and every older one, then retries.
            raise InvalidatePoolError(f"pooled connection dropped: {error}") from error


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
