"""SQLite's transactions begin as the services ask (chat/database.py).

The ``begin`` listener sends ``BEGIN`` on the driver's connection (docs/performance.md,
item 20) rather than through SQLAlchemy's execution path. These tests hold what that
must keep: a writer takes the write lock at ``BEGIN`` (``BEGIN IMMEDIATE``), a reader
does not, and a ``BEGIN`` refused by a held lock is the ``OperationalError`` that
becomes 503, after which the pool's connections still work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from chat.database import begin_write, is_unavailable, write_connection
from chat.errors import Unavailable
from chat.extensions import db

from .conftest import fresh_app


@pytest.fixture
def sqlite_app(
    tmp_path: Path, migrated_template: Path, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    # A short busy timeout: a BEGIN that waits for the other connection's lock gives up fast.
    with fresh_app(
        tmp_path, migrated_template, "sqlite", request, SQLITE_BUSY_TIMEOUT_MS=50
    ) as made:
        yield made


def _other_connection(app: Flask) -> sqlite3.Connection:
    """A second connection to the same file, outside the app's pool, that never waits."""
    return sqlite3.connect(
        app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"),
        timeout=0,
        isolation_level=None,
    )


def _can_take_the_write_lock(app: Flask) -> bool:
    other = _other_connection(app)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


def test_a_batch_of_sends_holds_the_write_lock_from_its_begin(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        with write_connection():
            # No statement yet: only BEGIN IMMEDIATE can hold the lock now.
            assert not _can_take_the_write_lock(sqlite_app)
        assert _can_take_the_write_lock(sqlite_app)


def test_a_session_writer_holds_the_write_lock_from_its_begin(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        begin_write()
        try:
            assert not _can_take_the_write_lock(sqlite_app)
        finally:
            db.session.rollback()
        assert _can_take_the_write_lock(sqlite_app)


def test_a_reader_does_not_take_the_write_lock(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
        assert db.session().in_transaction()
        assert _can_take_the_write_lock(sqlite_app)
        db.session.rollback()


def test_a_begin_refused_by_a_held_lock_is_unavailable_and_the_pool_recovers(
    sqlite_app: Flask,
) -> None:
    other = _other_connection(sqlite_app)
    other.execute("BEGIN IMMEDIATE")
    try:
        with sqlite_app.app_context():
            with pytest.raises(Unavailable) as refused, write_connection():
                pytest.fail("the transaction began although the lock was held")
            cause = refused.value.__cause__
            assert isinstance(cause, OperationalError) and is_unavailable(cause)
            assert "database is locked" in str(cause.orig)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with sqlite_app.app_context():
        with write_connection() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
        assert _can_take_the_write_lock(sqlite_app)
