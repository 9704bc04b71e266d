"""SQLite's WAL checkpoints off the writers' path, in a thread of gevent's pool.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages:
that writer copies the WAL's pages into the database file and syncs both before its
commit returns. In this server the writer is a batch of sends on the event loop, so
every 85 or so sends (12 pages of WAL each) one batch, and every socket waiting on
the loop, waited for a checkpoint: in-process a send's p99 was 4.8-5.4 ms with them
and 1.2-1.7 ms with this module's (docs/performance.md, item 22). A serving process
(``wsgi.py``) therefore moves the automatic checkpoint far out of the way and runs
SQLite's own PASSIVE checkpoint (the kind the automatic one is: it never waits for a
lock and never blocks a reader or the writer) every ``SQLITE_CHECKPOINT_INTERVAL_MS``,
on a connection of its own, in a thread of gevent's pool, where sqlite3 runs without
the GIL while the loop goes on.

Only a serving process does this: the CLI and the tests' in-process apps keep
SQLite's default, and so does a serving process with the interval set to 0.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event

from .database import is_sqlite_file
from .extensions import db, socketio

log = logging.getLogger(__name__)

# Where the writers' own automatic checkpoint still happens: never while the background
# one keeps up (it empties the WAL ten times a second), and a bound on the WAL if it
# stopped (about 40 MB of 4 KB pages) instead of none.
FALLBACK_AUTOCHECKPOINT_PAGES = 10_000
# A failing checkpoint is logged at most this often (it is retried every interval).
_WARN_EVERY_S = 60.0


def start(app: Flask) -> bool:
    """Checkpoint ``app``'s SQLite file in the background from now on (a serving process
    only); whether it does (a PostgreSQL app, an in-memory database or an interval of 0
    do not)."""
    interval = int(app.config["SQLITE_CHECKPOINT_INTERVAL_MS"]) / 1000
    with app.app_context():
        engine = db.engine
        if not is_sqlite_file(engine) or interval <= 0:
            return False
        leave_checkpoints_to_the_background(engine)
        # The checkpointer's connection opens the file as the pool's connections do.
        connect_args, connect_params = engine.dialect.create_connect_args(engine.url)
    socketio.start_background_task(_checkpoint_forever, connect_args, connect_params, interval)
    return True


def leave_checkpoints_to_the_background(engine: Engine) -> None:
    """Move the automatic checkpoint of ``engine``'s connections out of the writers' way."""

    @event.listens_for(engine, "connect")
    def _rare_automatic_checkpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_AUTOCHECKPOINT_PAGES}")

    engine.dispose()  # connections opened before (none, normally) take the setting too


def _checkpoint_forever(connect_args: list, connect_params: dict, interval: float) -> None:
    """Every ``interval`` seconds, one PASSIVE checkpoint in gevent's thread pool; a
    failure (the file unreadable for a while, say) is logged and retried, never the end."""
    from gevent import get_hub

    threadpool = get_hub().threadpool
    connection: sqlite3.Connection | None = None
    last_warning = float("-inf")
    while True:
        socketio.sleep(interval)
        try:
            if connection is None:
                # check_same_thread: the pool may run each checkpoint on another of its
                # threads, never two at once (this loop waits for each).
                connection = sqlite3.connect(
                    *connect_args,
                    **{**connect_params, "isolation_level": None, "check_same_thread": False},
                )
            threadpool.apply(_checkpoint, (connection,))
        except Exception:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
                connection = None
            if time.monotonic() - last_warning >= _WARN_EVERY_S:
                last_warning = time.monotonic()
                log.exception("sqlite checkpoint failed; retrying every %.1f s", interval)


def _checkpoint(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
