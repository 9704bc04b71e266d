"""Database engine set-up and the one way a service opens a write transaction.

SQLite needs care to be a correct embedded default: WAL so readers never block
the writer, a busy timeout so concurrent writers wait instead of failing, and
``BEGIN IMMEDIATE`` for write transactions so that a writer takes the lock
before it reads (a deferred transaction that reads and then writes can fail at
once with "database is locked" when another writer committed in between).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from . import pool_liveness, read_requests
from .errors import Unavailable
from .extensions import db

_BEGIN_OPTION = "chat_sqlite_begin"
_BEGIN_STATEMENTS = {"": "BEGIN", "IMMEDIATE": "BEGIN IMMEDIATE"}
# What a database call raises when the database may be out of reach (``is_unavailable``
# tells): the driver's errors, and the pool's timeout, every connection in use for
# ``pool_timeout`` seconds (overload: the client should retry, as after an outage).
DATABASE_ERRORS = (DBAPIError, PoolTimeout)
DatabaseError = DBAPIError | PoolTimeout


def configure_engine(app: Flask) -> None:
    """Attach the SQLite pragmas and transaction control to the app's engine, or, for a
    database server, the check of pooled connections at checkout."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        read_requests.init_app(app, engine)
    if engine.dialect.name != "sqlite":
        pool_liveness.check_at_checkout(engine)
        return
    busy_timeout_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
    on_disk = is_sqlite_file(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite, decide when BEGIN is sent.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if on_disk:
            cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives a crash of the process (not of the OS).
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # On the driver's connection, not through exec_driver_sql as SQLAlchemy's recipe
        # does: its execution path cost about 12 µs more, for every request and every
        # batch of sends (docs/performance.md, item 20). A failure (the lock held past
        # the busy timeout) is wrapped as SQLAlchemy would, so callers see the same
        # exceptions. SQL echo and cursor events no longer show the BEGIN.
        statement = _BEGIN_STATEMENTS[connection.get_execution_options().get(_BEGIN_OPTION, "")]
        try:
            connection.connection.driver_connection.execute(statement)
        except sqlite3.Error as error:
            raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error


def is_sqlite_file(engine: Engine) -> bool:
    """Whether ``engine`` is SQLite on a file: only a file has a WAL (and checkpoints)."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


def end_read_transaction() -> None:
    """End the read-only transaction left open by earlier queries of the request
    (loading the current user, say), so that the next query sees the database as of
    now: on SQLite a transaction keeps the snapshot of its first read. Services never
    leave unflushed changes between calls, so nothing is lost by it."""
    if not db.session.registry.has():
        return  # no session yet (a socket event's send): nothing to end, none to create
    session = db.session()
    if session.in_transaction():
        session.commit()


def _as_writer(dialect_name: str) -> dict[str, str]:
    """Execution options that make the next transaction begin as a writer: ``BEGIN
    IMMEDIATE`` on SQLite (the ``begin`` event above), nothing to add elsewhere."""
    return {_BEGIN_OPTION: "IMMEDIATE"} if dialect_name == "sqlite" else {}


def begin_write() -> None:
    """Start the session's next transaction as a writer (after ``end_read_transaction``)."""
    session = db.session()
    end_read_transaction()
    read_requests.stop_reading(session)
    options = _as_writer(db.engine.dialect.name)
    if options:
        session.connection(execution_options=options)


@contextmanager
def write_transaction() -> Iterator[Session]:
    """One short write transaction, committed on exit and rolled back on any error.

    A database that does not answer (SQLite lock held past the busy timeout,
    PostgreSQL down) becomes ``Unavailable`` (503) so the client knows to retry;
    nothing of the transaction is kept.
    """
    session = db.session
    try:
        begin_write()
        yield session
        session.commit()
    except DATABASE_ERRORS as error:
        rollback_quietly()
        _raise_if_unavailable(error)
        raise  # IntegrityError and real faults keep their type
    except BaseException:
        session.rollback()
        raise


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A Core connection for a few reads outside any request's session (a batch's
    follow-up questions); a database out of reach becomes ``Unavailable``."""
    try:
        with db.engine.connect() as connection:
            yield connection
    except DATABASE_ERRORS as error:
        _raise_if_unavailable(error)
        raise


@contextmanager
def write_connection(*, one_statement: bool = False) -> Iterator[Connection]:
    """A write transaction like ``write_transaction``'s, on a Core connection of its own.

    ``one_statement``: the caller writes with a single statement, atomic by itself. On
    PostgreSQL that runs without a transaction around it (AUTOCOMMIT): psycopg's
    ``BEGIN`` and the ``COMMIT`` were a round trip each, two of a lone send's three
    (docs/performance.md, item 29). SQLite's transaction costs no round trip and is
    what takes the write lock first, so it keeps it.

    For a batch of sends, whose statements are Core statements already: the ORM
    session's transaction bookkeeping cost a lone send about as much CPU as its
    statements (docs/performance.md, item 16). The caller's session should hold no
    connection while this waits for one (``end_read_transaction`` first): writers
    queued with their read transactions open could otherwise hold the whole pool
    while the one storing their batch waits for a connection.
    """
    try:
        with db.engine.connect() as connection:
            dialect_name = connection.dialect.name
            if one_statement and dialect_name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            else:
                connection.execution_options(**_as_writer(dialect_name))
            with connection.begin():
                yield connection
    except DATABASE_ERRORS as error:
        _raise_if_unavailable(error)
        raise


def _raise_if_unavailable(error: DatabaseError) -> None:
    """``Unavailable`` (503, the client retries) if ``error`` means the database is out of reach."""
    if is_unavailable(error):
        raise Unavailable("The database did not answer in time; try again.") from error


# SQLite reports a missing table and a held lock with the same exception class;
# only the second (and a file it cannot open) means "try again later".
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open database file")


def is_unavailable(error: DatabaseError) -> bool:
    """Whether a database error means the database is out of reach, not that the code is wrong.

    The pool's timeout always is (no connection came free in time), and so is a
    connection SQLAlchemy found dead (``connection_invalidated``: psycopg's "server
    closed the connection"). Otherwise only an
    OperationalError can be: on PostgreSQL every one is about the connection or the
    server (refused, reset, timed out; schema mistakes are ProgrammingError there); on
    SQLite only lock timeouts and unopenable files are.
    """
    if isinstance(error, PoolTimeout) or error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    if db.engine.dialect.name != "sqlite":
        return True
    return any(text in str(error.orig) for text in _SQLITE_TRANSIENT)


def rollback_quietly() -> None:
    """Roll back after a failure; if the connection is dead even that fails, so drop it."""
    try:
        db.session.rollback()
    except DBAPIError:
        db.session.remove()
