"""A serving process checkpoints SQLite's WAL in the background (chat/sqlite_checkpoints.py).

The evidence is the database file itself: opened ``immutable``, SQLite reads the main
file and ignores the WAL, so a message shows there only once a checkpoint copied it.
SQLite's own automatic checkpoint waits for 1,000 pages of WAL, which a few requests
never reach; the background one runs every ``SQLITE_CHECKPOINT_INTERVAL_MS``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from chat import create_app, sqlite_checkpoints
from chat.extensions import db

from .support import ApiUser, ServerProcess, wait_until


def _in_the_database_file(server: ServerProcess, body: str) -> bool:
    path = server.database_url.removeprefix("sqlite:///")
    reader = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        found = reader.execute("SELECT count(*) FROM messages WHERE body = ?", (body,))
        return found.fetchone()[0] == 1
    except sqlite3.DatabaseError:
        return False  # read without locks, halfway through a checkpoint: look again
    finally:
        reader.close()


def _post_a_message(server: ServerProcess) -> str:
    user = ApiUser(server.base_url).register("Checkpoints")
    try:
        room = user.create_room("checkpoints")
        body = f"checkpointed {uuid.uuid4()}"
        assert user.post(room["id"], body).status_code == 201
        return body
    finally:
        user.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own: a database no other test has written 1,000 pages to."""
    process = ServerProcess(tmp_path)
    process.migrate()
    process.start()
    yield process
    process.stop()


@pytest.mark.server
def test_a_stored_message_reaches_the_database_file_without_waiting_for_1000_pages(
    server: ServerProcess,
) -> None:
    body = _post_a_message(server)
    wait_until(lambda: _in_the_database_file(server, body), timeout=10, interval=0.05)


@pytest.mark.parametrize(
    "uri", ["sqlite://", "postgresql+psycopg://localhost/never-connected"], ids=["memory", "pg"]
)
def test_nothing_to_checkpoint_starts_nothing(uri: str) -> None:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=uri, SQLITE_CHECKPOINT_INTERVAL_MS=100)
    assert sqlite_checkpoints.start(app) is False


def test_the_pools_connections_leave_checkpoints_to_the_background(tmp_path: Path) -> None:
    """Their own automatic checkpoint only as a bound on the WAL, not at 1,000 pages."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'chat.sqlite3'}")
    with app.app_context():
        assert db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        db.session.remove()
        sqlite_checkpoints.leave_checkpoints_to_the_background(db.engine)
        pages = db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar()
        assert pages == sqlite_checkpoints.FALLBACK_AUTOCHECKPOINT_PAGES > 1000
        db.engine.dispose()


def test_an_interval_of_0_starts_nothing(tmp_path: Path) -> None:
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'chat.sqlite3'}",
        SQLITE_CHECKPOINT_INTERVAL_MS=0,
    )
    assert sqlite_checkpoints.start(app) is False
