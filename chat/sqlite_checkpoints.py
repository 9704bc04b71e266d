"""SQLite's WAL checkpoints off the writers' path, in a thread of gevent's pool.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages:
that writer copies the WAL's pages into the database file and syncs both before its
commit returns. In this server the writer is a batch of sends on the event loop, so
every few hundred sends one batch, and every socket waiting on the loop, waited for
a checkpoint: in-process a send's p99 was 5.5 ms with them and 1.7 ms without
(docs/performance.md, item 22). A serving process (``wsgi.py``) therefore turns the
automatic checkpoints off and runs SQLite's own PASSIVE checkpoint (the kind the
automatic one is: it never waits for a lock and never blocks a reader or the
writer) every ``SQLITE_CHECKPOINT_INTERVAL_MS``, on a connection of its own, in a
thread of gevent's pool, where sqlite3 runs without the GIL while the loop goes on.

Only the serving process does this: the CLI, the tests' in-process apps and the
benchmark's in-process runs keep SQLite's default, and so does a serving process
with the interval set to 0.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event

from .extensions import db, socketio

log = logging.getLogger(__name__)


def start(app: Flask) -> bool:
    """Checkpoint ``app``'s SQLite file in the background from now on (a serving
    process only); whether it does (a PostgreSQL app, an in-memory database or an
    interval of 0 do not)."""
    interval = int(app.config["SQLITE_CHECKPOINT_INTERVAL_MS"]) / 1000
    with app.app_context():
        engine = db.engine
        path = engine.url.database
        if engine.dialect.name != "sqlite" or path in (None, "", ":memory:") or interval <= 0:
            return False

        @event.listens_for(engine, "connect")
        def _no_automatic_checkpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint = 0")

        engine.dispose()  # connections opened before (none, normally) take the setting too
    socketio.start_background_task(_checkpoint_forever, path, interval)
    return True


def _checkpoint_forever(path: str, interval: float) -> None:
    from gevent import get_hub

    # check_same_thread: the pool may run each checkpoint on another of its threads,
    # never two at once (this loop waits for each).
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    threadpool = get_hub().threadpool
    while True:
        socketio.sleep(interval)
        try:
            threadpool.apply(_checkpoint, (connection,))
        except sqlite3.Error as error:  # the next round tries again
            log.warning("sqlite checkpoint failed: %s", error)


def _checkpoint(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
