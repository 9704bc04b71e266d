"""Pooled PostgreSQL connections: the dead ones are replaced at checkout, the live ones
are handed out without a ping (chat/pool_liveness.py).

Real PostgreSQL: a backend ended with ``pg_terminate_backend`` closes its connection
exactly as a restart or a failover does, while the connection waits in the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import Engine, text

from chat import create_app, pool_liveness
from chat.extensions import db

from .postgres_support import admin_url, conninfo, require_postgres
from .support import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def app() -> Iterator[Flask]:
    require_postgres()
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=admin_url().render_as_string(hide_password=False),
        DB_POOL_SIZE=2,
    )
    with app.app_context():
        yield app
        db.engine.dispose()


@pytest.fixture
def pings(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The backends the checkout check pinged (the real ping runs)."""
    dialect = db.engine.dialect
    real_ping: Callable[[Any], bool] = dialect.do_ping
    pinged: list[int] = []

    def counting_ping(dbapi_connection: Any) -> bool:
        pinged.append(dbapi_connection.info.backend_pid)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    return pinged


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _two_pooled_backends(engine: Engine) -> tuple[int, int]:
    """Two connections checked out at once, then both back in the pool."""
    with engine.connect() as first, engine.connect() as second:
        return tuple(
            c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in (first, second)
        )


def _terminate(*pids: int) -> None:
    """End the backends from outside, and wait until PostgreSQL no longer lists them
    (a backend sends its ``FATAL`` goodbye before it leaves the view)."""
    with psycopg.connect(conninfo(admin_url()), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        def gone() -> bool:
            listed = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
            ).fetchone()
            return listed is not None and listed[0] == 0

        wait_until(gone, timeout=10)


def test_a_live_pooled_connection_is_handed_out_without_a_ping(
    app: Flask, pings: list[int]
) -> None:
    engine = db.engine
    first = _backend_pid(engine)
    assert [_backend_pid(engine) for _ in range(5)] == [first] * 5, "the pooled one is reused"
    assert pings == [], "a connection with nothing to read needs no round trip"


def test_connections_the_server_dropped_while_pooled_are_replaced_before_use(
    app: Flask, pings: list[int]
) -> None:
    """As after a restart of PostgreSQL: every pooled connection is dead. The first
    checkout finds its socket readable, its ping fails, and SQLAlchemy replaces it and
    every other pooled one; no statement of the app ever meets a dead connection."""
    engine = db.engine
    old = _two_pooled_backends(engine)
    _terminate(*old)

    after = _two_pooled_backends(engine)
    assert not set(after) & set(old), "new backends took over"
    assert pings and set(pings) <= set(old), "only a dropped connection was pinged"
    assert len(pings) == 1, "the first failed ping replaced the whole pool"
    assert _backend_pid(engine) in after


def test_a_connection_idle_for_long_is_pinged_and_kept_if_alive(
    app: Flask, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection a load balancer or a NAT forgot shows nothing on its socket: past
    ``PING_AFTER_IDLE_SECONDS`` in the pool it is pinged anyway. This one is alive, so
    the ping passes and it is used."""
    engine = db.engine
    first = _backend_pid(engine)
    monkeypatch.setattr(pool_liveness, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend_pid(engine) == first
    assert pings == [first]
