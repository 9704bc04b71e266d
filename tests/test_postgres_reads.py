"""On PostgreSQL a read request runs outside a transaction, and every write keeps one.

``chat/read_requests.py`` hands a GET request's session, and a socket event's that
only reads, AUTOCOMMIT connections: at READ
COMMITTED each statement sees its own snapshot either way, and the transaction only
cost two round trips (docs/performance.md, item 21). These tests watch the driver's
transaction status after each statement: IDLE means the statement ran on its own,
INTRANS inside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, event, select, update

from chat.database import write_transaction
from chat.extensions import db, socketio
from chat.models import Profile

from .conftest import fresh_app

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(tmp_path: Path, migrated_template: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The usual app, always on PostgreSQL (what these tests are about)."""
    with fresh_app(tmp_path, migrated_template, "postgresql", request) as made:
        yield made


IDLE = TransactionStatus.IDLE
INTRANS = TransactionStatus.INTRANS


def _engine(app: Flask) -> Engine:
    with app.app_context():
        return db.engine


def _watch_statements(app: Flask) -> list[tuple[str, TransactionStatus]]:
    """Each statement the app runs from now on, with the transaction status after it."""
    seen: list[tuple[str, TransactionStatus]] = []

    @event.listens_for(_engine(app), "after_cursor_execute")
    def _record(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
        seen.append((statement, connection.connection.driver_connection.info.transaction_status))

    return seen


def _watch_checkins(app: Flask) -> list[bool]:
    """Whether each connection given back to the pool is still in autocommit."""
    autocommit: list[bool] = []

    @event.listens_for(_engine(app), "checkin")
    def _record(dbapi_connection, _record) -> None:
        autocommit.append(dbapi_connection.autocommit)

    return autocommit


def test_a_history_page_reads_outside_a_transaction(app: Flask, make_user) -> None:
    user = make_user("Reader")
    room = user.create_room("Reads")
    for body in ("one", "two", "three"):
        user.post_message(room["id"], body)
    statements = _watch_statements(app)
    checkins = _watch_checkins(app)

    response = user.call("GET", f"/api/rooms/{room['id']}/messages")

    assert response.status_code == 200
    assert [m["body"] for m in response.get_json()["messages"]] == ["one", "two", "three"]
    assert any("FROM users" in sql for sql, _ in statements), statements  # the user
    assert any("FROM messages" in sql for sql, _ in statements), statements  # the page
    assert {status for _, status in statements} == {IDLE}, statements
    # The connection goes back to the pool as a transactional one.
    assert checkins == [False]


def test_the_socket_events_that_only_read_run_outside_a_transaction(app: Flask, make_user) -> None:
    """The connect (the user, the rooms twice), ``typing`` and ``sync``."""
    user = make_user("Socket reader")
    room = user.create_room("Socket reads")
    user.post_message(room["id"], "to catch up")
    statements = _watch_statements(app)

    sockets = socketio.test_client(app, flask_test_client=user.client)
    assert sockets.is_connected()
    connect_statements = list(statements)
    typing = sockets.emit("typing", {"room_id": room["id"]}, callback=True)
    synced = sockets.emit("sync", {"rooms": {room["id"]: 0}}, callback=True)
    sockets.disconnect()

    assert typing == {"ok": True}
    assert [m["body"] for m in synced["rooms"][room["id"]]["messages"]] == ["to catch up"]
    assert any("FROM users" in sql for sql, _ in connect_statements), connect_statements
    assert sum("FROM room_members" in sql for sql, _ in connect_statements) == 2
    after_connect = [sql for sql, _ in statements[len(connect_statements) :]]
    assert any("FROM room_members" in sql for sql in after_connect)  # typing's membership
    assert any("FROM messages" in sql for sql in after_connect)  # sync's changes
    assert {status for _, status in statements} == {IDLE}, statements


def test_the_mark_ends_with_its_socket_event(app: Flask, make_user) -> None:
    """After ``typing``, the next event's reads run in a transaction again: the mark
    lives in the event's own session, which Flask-SQLAlchemy drops with its context."""
    user = make_user("Marked once")
    room = user.create_room("Marks")
    user.post_message(room["id"], "to read")
    sockets = socketio.test_client(app, flask_test_client=user.client)
    assert sockets.emit("typing", {"room_id": room["id"]}, callback=True) == {"ok": True}
    # A rename drops the socket's kept user: the next event loads it with a query.
    assert user.call("PATCH", "/api/me", json={"display_name": "Renamed"}).status_code == 200
    statements = _watch_statements(app)

    ack = sockets.emit("mark_read", {"room_id": room["id"], "seq": 1}, callback=True)
    sockets.disconnect()

    assert ack["ok"], ack
    user_loads = [status for sql, status in statements if "FROM users" in sql]
    assert user_loads == [INTRANS], statements


def _send_writes(statements: list[tuple[str, TransactionStatus]]) -> list[TransactionStatus]:
    """The status after each batch write of sends (one statement: ``WITH … INSERT``)."""
    return [status for sql, status in statements if "INSERT INTO messages" in sql]


def test_a_socket_send_is_one_statement_on_its_own_and_a_mention_keeps_a_transaction(
    app: Flask, make_user
) -> None:
    """A batch of sends is one statement, atomic by itself: it runs outside a
    transaction (docs/performance.md, item 29), unless a message may mention someone,
    whose mention rows are a second statement of the same transaction."""
    user = make_user("Socket writer")
    room = user.create_room("Socket writes")
    sockets = socketio.test_client(app, flask_test_client=user.client)
    statements = _watch_statements(app)
    checkins = _watch_checkins(app)

    plain = sockets.emit(
        "send_message", {"room_id": room["id"], "body": "over the socket"}, callback=True
    )
    plain_writes, statements[:] = _send_writes(statements), []
    mention = sockets.emit(
        "send_message", {"room_id": room["id"], "body": "hi @someone"}, callback=True
    )
    sockets.disconnect()

    assert plain["ok"] and mention["ok"], (plain, mention)
    assert plain_writes == [IDLE], "the plain send: committed by its own statement"
    assert _send_writes(statements) == [INTRANS], "the mention: in a transaction"
    assert checkins and not any(checkins), "every connection back without autocommit"


def test_an_http_send_is_one_statement_on_its_own(app: Flask, make_user) -> None:
    user = make_user("Writer")
    room = user.create_room("Writes")
    statements = _watch_statements(app)

    stored = user.post_message(room["id"], "stored")

    assert _send_writes(statements) == [IDLE], statements
    page = user.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert [(m["id"], m["body"]) for m in page] == [(stored["id"], "stored")]


def test_a_write_inside_a_read_request_gets_a_transaction_of_its_own(app: Flask, make_user) -> None:
    """A GET that writes (none does today) is still atomic: a failure keeps nothing."""

    @app.get("/_probe/rename-then-fail")
    def rename_then_fail():
        db.session.scalar(select(Profile.display_name).limit(1))  # a read first
        try:
            with write_transaction() as session:
                session.execute(update(Profile).values(display_name="Renamed"))
                raise RuntimeError("after the update")
        except RuntimeError:
            return {"rolled_back": True}

    user = make_user("Original")
    statements = _watch_statements(app)

    response = user.call("GET", "/_probe/rename-then-fail")

    assert response.get_json() == {"rolled_back": True}
    read, *written = statements
    assert read[1] == IDLE
    assert written and {status for _, status in written} == {INTRANS}, statements
    assert user.call("GET", "/api/me").get_json()["display_name"] == "Original"
