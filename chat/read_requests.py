"""On PostgreSQL, a read request's statements run outside a transaction.

A page of history is two statements (the user, the page), and a transaction around
them cost two round trips more: psycopg's ``BEGIN`` before the first, and the
``ROLLBACK`` when the request's session closes (5 round trips where 3 do; a socket's
connect and one ``typing`` event, 13 where 7 do; docs/performance.md, item 21). At
READ COMMITTED, PostgreSQL's default and the app's, each statement takes its own
snapshot inside a transaction too, so a read request sees exactly what it saw
before. SQLite is left as it is: its transaction costs no round trip, and there it is
what keeps a request's reads on one snapshot. (Server-side cursors, ``stream_results``,
need a transaction: a read request that wants one must call ``stop_reading`` first.)

The session of a GET or HEAD request, and of the socket events that only read (the
connect, ``sync``, ``typing``), takes its connections from the engine in
AUTOCOMMIT mode (SQLAlchemy's recipe: an engine with other execution options, sharing
the pool, which gives each connection back with its isolation level reset). A write
in such a request still gets a transaction: ``chat.database.begin_write`` ends the
reading (``stop_reading``) before its transaction begins, and every later statement of
the request runs in transactions as in any other request.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask_sqlalchemy.session import Session
from sqlalchemy import Connection, Engine

_READ_BIND = "chat_read_bind"
_READ_METHODS = frozenset({"GET", "HEAD"})
_AUTOCOMMIT_ENGINE = "chat.autocommit_engine"


class ReadAwareSession(Session):
    """Flask-SQLAlchemy's session, which a read request points at the AUTOCOMMIT engine.

    The app has one database, so a read request's statements all go there; a bind
    passed explicitly still wins.
    """

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        read_bind = self.info.get(_READ_BIND)
        if read_bind is not None and bind is None:
            return read_bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def init_app(app: Flask, engine: Engine) -> None:
    """Make the read requests of ``app`` (on PostgreSQL) read through ``engine`` in
    AUTOCOMMIT mode."""
    app.extensions[_AUTOCOMMIT_ENGINE] = engine.execution_options(isolation_level="AUTOCOMMIT")
    app.before_request(_read_if_a_read_request)


def _read_if_a_read_request() -> None:
    if request.method in _READ_METHODS:
        read_outside_a_transaction()


def read_outside_a_transaction() -> None:
    """Let the current session's statements from now on run outside a transaction, on
    PostgreSQL (elsewhere nothing changes). For a socket event that only reads: call it
    before its first statement (the user's load included)."""
    # Only a flag: the connection is taken, as before, by the first statement.
    autocommit = current_app.extensions.get(_AUTOCOMMIT_ENGINE)
    if autocommit is not None:
        # Flask-SQLAlchemy's own entry (chat.extensions imports this module: no cycle).
        current_app.extensions["sqlalchemy"].session().info[_READ_BIND] = autocommit


def stop_reading(session: Session) -> None:
    """Let the session's next transaction be a real one (a write in a read request).

    Call it when the session holds no connection (after ending its read transaction):
    a connection already taken would stay in AUTOCOMMIT mode until it is given back.
    """
    session.info.pop(_READ_BIND, None)
