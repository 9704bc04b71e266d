"""Group commit: sends that arrive together share one transaction, and each keeps its own answer.

The scheme itself (``chat/services/group_commit.py``) with threads and a stand-in
store; then the send path on both databases, with a batch formed on purpose: a
repeated ``client_id``, a non-member and a sender whose session ended, stored in
one batch with good sends, are each refused or answered alone, and the good sends
are stored with gapless numbers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError

from chat.errors import NotFound, Unauthorized
from chat.extensions import db, socketio
from chat.models import Message, Room, User
from chat.services import messages, permissions
from chat.services.group_commit import GroupCommit

from .conftest import InProcessUser, fresh_app

DEADLINE = 10.0


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class RecordingStore:
    """A stand-in ``store``: doubles numbers, records each batch, can be held."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items: list[Any]) -> list[Any]:
        self.batches.append(list(items))
        self.entered.set()
        assert self.release.wait(DEADLINE)
        return [ValueError(item) if item < 0 else item * 2 for item in items]


def _start(function: Callable, *args: Any) -> Future:
    """Run in a daemon thread: a queue that hangs fails its test (``result(DEADLINE)``)
    instead of hanging the run, as a pool's threads would at its exit."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # handed to the test as it is
            future.set_exception(error)

    threading.Thread(target=run, daemon=True).start()
    return future


def _queue(store: Callable, **overrides: Any) -> GroupCommit:
    options = {"create_event": threading.Event, "yield_now": lambda: time.sleep(0)}
    return GroupCommit(store=store, **{**options, **overrides})


def _queued(queue: GroupCommit) -> int:
    with queue._lock:
        return len(queue._queue)


def test_a_lone_writer_is_stored_at_once_in_a_batch_of_its_own() -> None:
    store = RecordingStore()
    queue = _queue(store)
    assert _start(queue.submit, 21).result(DEADLINE) == 42
    assert _start(queue.submit, 5).result(DEADLINE) == 10
    assert store.batches == [[21], [5]]


def test_writers_arriving_while_a_batch_is_stored_share_the_next_one() -> None:
    store = RecordingStore()
    queue = _queue(store)
    store.release.clear()
    first = _start(queue.submit, 1)
    assert store.entered.wait(DEADLINE)  # the leader is storing [1] and holds on
    later = [_start(queue.submit, n) for n in range(2, 7)]
    _wait_until(lambda: _queued(queue) == 5, "five writers queued behind the leader")
    store.release.set()
    assert first.result(DEADLINE) == 2
    assert [future.result(DEADLINE) for future in later] == [4, 6, 8, 10, 12]
    assert store.batches[0] == [1]
    assert sorted(store.batches[1]) == [2, 3, 4, 5, 6]  # one store call for all five
    assert len(store.batches) == 2


def test_a_batch_holds_at_most_max_batch_writers_and_the_rest_follow() -> None:
    store = RecordingStore()
    queue = _queue(store, max_batch=2)
    store.release.clear()
    leader = _start(queue.submit, 1)
    assert store.entered.wait(DEADLINE)
    later = []
    for n in range(2, 7):  # queued in a known order
        later.append(_start(queue.submit, n))
        _wait_until(lambda n=n: _queued(queue) == n - 1, f"writer {n} queued")
    store.release.set()
    assert [future.result(DEADLINE) for future in [leader, *later]] == [2, 4, 6, 8, 10, 12]
    assert store.batches == [[1], [2, 3], [4, 5], [6]]


def test_each_item_gets_its_own_outcome() -> None:
    store = RecordingStore()
    queue = _queue(store)
    store.release.clear()
    leader = _start(queue.submit, 1)
    assert store.entered.wait(DEADLINE)
    refused, accepted = _start(queue.submit, -3), _start(queue.submit, 4)
    _wait_until(lambda: _queued(queue) == 2, "two writers queued")
    store.release.set()
    assert leader.result(DEADLINE) == 2
    assert accepted.result(DEADLINE) == 8
    with pytest.raises(ValueError):
        refused.result(DEADLINE)


def test_an_error_escaping_the_store_is_every_items_outcome_and_the_queue_goes_on() -> None:
    calls: list[list[int]] = []

    def failing_once(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return items

    queue = _queue(failing_once)
    with pytest.raises(RuntimeError, match="went away"):
        _start(queue.submit, 1).result(DEADLINE)
    assert _start(queue.submit, 2).result(DEADLINE) == 2


def test_a_leader_interrupted_before_storing_hands_the_queue_over() -> None:
    class Interrupted(BaseException):
        """Stands in for gevent's GreenletExit."""

    interrupts = [True]

    def yield_now() -> None:
        if interrupts and interrupts.pop():
            raise Interrupted

    store = RecordingStore()
    queue = _queue(store, yield_now=yield_now)
    with pytest.raises(Interrupted):
        _start(queue.submit, 1).result(DEADLINE)
    assert store.batches == []  # its item was never stored
    # ...and the next writer is not left waiting for it.
    assert _start(queue.submit, 2).result(DEADLINE) == 4


def test_a_waiter_interrupted_while_waiting_leaves_the_queue_and_the_rest_go_on() -> None:
    class Interrupted(BaseException):
        pass

    class InterruptibleEvent(threading.Event):
        """Interrupted (like a killed greenlet) while waiting, if its item says so."""

        interrupt_next = False

        def __init__(self) -> None:
            super().__init__()
            self.interrupt, InterruptibleEvent.interrupt_next = self.interrupt_next, False

        def wait(self, timeout: float | None = None) -> bool:
            if self.interrupt:
                _wait_until(lambda: store.entered.is_set(), "the leader storing")
                raise Interrupted
            return super().wait(timeout)

    store = RecordingStore()
    queue = _queue(store, create_event=InterruptibleEvent)
    store.release.clear()
    leader = _start(queue.submit, 1)
    assert store.entered.wait(DEADLINE)
    InterruptibleEvent.interrupt_next = True
    abandoned = _start(queue.submit, 2)
    with pytest.raises(Interrupted):
        abandoned.result(DEADLINE)
    waiting = _start(queue.submit, 3)
    _wait_until(lambda: _queued(queue) == 1, "the next writer queued")
    store.release.set()
    assert leader.result(DEADLINE) == 2
    assert waiting.result(DEADLINE) == 6
    assert [sorted(batch) for batch in store.batches] == [[1], [3]]  # 2 was never stored


# --- the send path, with a batch formed on purpose ---------------------------------------


def _post_in_one_batch(app: Flask, sends: list[tuple]) -> tuple[dict[str, Any], list[int]]:
    """Post ``(body, sender, room_id, client_id)`` sends so that they form one batch, in
    this order; the sender is a user id or a detached ``User``. Returns each send's
    outcome by body, ``(body, seq, created)`` or the class of its error, and the sizes
    of the batches stored meanwhile."""
    batches: list[int] = []
    queue = app.extensions[messages.SEND_QUEUE_KEY]
    store, yield_now = queue.store, queue.yield_now

    def recording_store(items: list) -> list:
        batches.append(len(items))
        return store(items)

    def wait_for_everyone() -> None:  # the leader yields until all the sends are queued
        _wait_until(lambda: _queued(queue) == len(sends), "all the sends queued")

    def send(body: str, sender: str | User, room_id: uuid.UUID, client_id: str) -> Any:
        with app.app_context():
            if not isinstance(sender, User):
                sender = db.session.get(User, uuid.UUID(sender))
            try:
                message, created = messages.post_message(sender, room_id, body, client_id)
                return (message.body, message.seq, created)
            except (NotFound, Unauthorized, IntegrityError) as refused:
                return type(refused)
            finally:
                db.session.remove()

    queue.store, queue.yield_now = recording_store, wait_for_everyone
    try:
        futures = {}
        for queued, (body, *rest) in enumerate(sends, start=1):
            futures[body] = _start(send, body, *rest)
            if queued < len(sends):  # the last one completes the batch, which then goes
                # One at a time: the batch holds them in this order.
                _wait_until(lambda queued=queued: _queued(queue) == queued, f"{body!r} queued")
        outcomes = {body: future.result(DEADLINE) for body, future in futures.items()}
    finally:
        queue.store, queue.yield_now = store, yield_now
    return outcomes, batches


def _stored_in(app: Flask, room_id: uuid.UUID) -> list[tuple[int, str]]:
    """The room's stored messages as ``(seq, body)``, in seq order."""
    with app.app_context():
        rows = db.session.execute(
            select(Message.seq, Message.body)
            .where(Message.room_id == room_id)
            .order_by(Message.seq)
        ).all()
    return [tuple(row) for row in rows]


def _copy_before_a_password_change(app: Flask, user_id: str) -> User:
    """A socket's copy of a user, loaded before their password changed elsewhere (the
    session epoch bumped behind its back)."""
    with app.app_context():
        stale_copy = db.session.get(User, uuid.UUID(user_id))
        assert stale_copy.profile is not None  # loaded before it is detached
        db.session.expunge(stale_copy)
        db.session.execute(
            update(User)
            .where(User.id == stale_copy.id)
            .values(session_epoch=User.session_epoch + 1)
        )
        db.session.commit()
    return stale_copy


@pytest.mark.both_databases
def test_a_batch_with_refused_sends_stores_the_others_gaplessly(app: Flask, make_user) -> None:
    owner, member, outsider, logged_out = (
        make_user(name) for name in ("Owner", "Member", "Outsider", "Logged out")
    )
    room = owner.create_room("batch", member_ids=[member.id, logged_out.id])
    room_id = uuid.UUID(room["id"])
    first = owner.call(
        "POST", f"/api/rooms/{room_id}/messages", json={"body": "first", "client_id": "c-1"}
    )
    assert first.status_code == 201

    stale_copy = _copy_before_a_password_change(app, logged_out.id)
    sends = [
        ("good one", owner.id, room_id, "c-2"),
        ("repeat", owner.id, room_id, "c-1"),  # the client_id of "first": its stored message
        ("outsider", outsider.id, room_id, "c-3"),
        ("stale", stale_copy, room_id, "c-4"),
        ("good two", member.id, room_id, "c-5"),
    ]
    outcomes, batches = _post_in_one_batch(app, sends)

    assert batches == [5]  # one batch, stored together
    assert outcomes["repeat"] == ("first", 1, False)  # the stored message, not a new one
    assert outcomes["outsider"] is NotFound
    assert outcomes["stale"] is Unauthorized
    assert sorted([outcomes["good one"][1:], outcomes["good two"][1:]]) == [(2, True), (3, True)]
    stored = _stored_in(app, room_id)
    assert [seq for seq, _ in stored] == [1, 2, 3]  # no gap where the refused ones were
    assert sorted(body for _, body in stored) == ["first", "good one", "good two"]


@pytest.mark.both_databases
def test_a_batch_refuses_an_outsider_and_an_ended_session_by_its_write_alone(
    app: Flask, make_user
) -> None:
    """With no repeated ``client_id`` the batch is written once, as it came: on
    PostgreSQL one statement (outside a transaction) refuses the outsider and the
    sender whose session ended and stores the others; each refused send is then told
    why (401, 404). On SQLite the write's memberships lookup refuses both in the same
    way, in its transaction."""
    owner, member, outsider, logged_out = (
        make_user(name) for name in ("Owner", "Member", "Outsider", "Logged out")
    )
    room_id = uuid.UUID(owner.create_room("batch", member_ids=[member.id, logged_out.id])["id"])
    stale_copy = _copy_before_a_password_change(app, logged_out.id)
    with app.app_context():
        engine = db.engine
    on_sqlite = engine.dialect.name == "sqlite"
    writes: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("WITH"):
            writes.append(statement)

    sends = [
        ("good one", owner.id, room_id, "b-1"),
        ("stale", stale_copy, room_id, "b-2"),
        ("outsider", outsider.id, room_id, "b-3"),
        ("good two", member.id, room_id, "b-4"),
    ]
    event.listen(engine, "before_cursor_execute", record)
    try:
        outcomes, batches = _post_in_one_batch(app, sends)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert batches[0] == 4  # the four queued together
    assert outcomes["stale"] is Unauthorized
    assert outcomes["outsider"] is NotFound
    assert [outcomes["good one"], outcomes["good two"]] == [
        ("good one", 1, True),
        ("good two", 2, True),
    ]
    if not on_sqlite:
        assert batches == [4] and len(writes) == 1, "one statement wrote the batch"
    assert _stored_in(app, room_id) == [(1, "good one"), (2, "good two")]


@pytest.mark.both_databases
def test_a_batch_over_several_rooms_numbers_each_room_in_arrival_order(
    app: Flask, make_user
) -> None:
    """A batch's sends to different rooms, interleaved: each room's numbers continue
    from its own last one, in the order the sends arrived, with its change numbers and
    last activity beside them; mentions are stored for the message that made them."""
    alice, bob, carol = (make_user(name) for name in ("Alice", "Bob", "Carol"))
    with_bob = uuid.UUID(alice.create_room("with Bob", member_ids=[bob.id])["id"])
    with_carol = uuid.UUID(alice.create_room("with Carol", member_ids=[carol.id])["id"])
    earlier = alice.call("POST", f"/api/rooms/{with_bob}/messages", json={"body": "earlier"})
    assert earlier.status_code == 201
    edited = alice.call(
        "PATCH", f"/api/messages/{earlier.get_json()['id']}", json={"body": "earlier, edited"}
    )
    assert edited.status_code == 200  # with_bob's change number is now ahead of its seq

    sends = [
        ("to Carol 1", alice.id, with_carol, "k-1"),
        ("hi @Alice", bob.id, with_bob, "k-2"),
        ("from Carol", carol.id, with_carol, "k-3"),
        ("not Carol's room", carol.id, with_bob, "k-4"),
        ("to Bob", alice.id, with_bob, "k-5"),
        ("@carol, see", alice.id, with_carol, "k-6"),
    ]
    outcomes, batches = _post_in_one_batch(app, sends)

    assert batches == [6]
    assert outcomes == {
        "to Carol 1": ("to Carol 1", 1, True),
        "hi @Alice": ("hi @Alice", 2, True),
        "from Carol": ("from Carol", 2, True),
        "not Carol's room": NotFound,
        "to Bob": ("to Bob", 3, True),
        "@carol, see": ("@carol, see", 3, True),
    }
    with app.app_context():
        for room_id, bodies, changes in (
            # with_bob's change numbers: 1 the first message, 2 its edit, then 3 and 4.
            (with_bob, ["earlier, edited", "hi @Alice", "to Bob"], [2, 3, 4]),
            (with_carol, ["to Carol 1", "from Carol", "@carol, see"], [1, 2, 3]),
        ):
            room = db.session.get(Room, room_id)
            stored = db.session.scalars(
                select(Message).where(Message.room_id == room_id).order_by(Message.seq)
            ).all()
            assert [message.body for message in stored] == bodies
            assert [message.seq for message in stored] == [1, 2, 3]
            assert [message.change_seq for message in stored] == changes
            assert (room.last_seq, room.last_change) == (3, changes[-1])
            assert room.last_activity_at == max(message.created_at for message in stored)
            mentions = {
                message.body: sorted(str(user_id) for user_id in message.mentioned_ids)
                for message in stored[1:]
            }
            if room_id == with_bob:
                assert mentions == {"hi @Alice": [alice.id], "to Bob": []}
            else:
                assert mentions == {"from Carol": [], "@carol, see": [carol.id]}
        batch_by_id = db.session.scalars(
            select(Message.body).where(Message.client_id.like("k-%")).order_by(Message.id)
        ).all()
    # Ids in arrival order, as one transaction per send gave them (search pages by id).
    assert batch_by_id == ["to Carol 1", "hi @Alice", "from Carol", "to Bob", "@carol, see"]


@pytest.mark.both_databases
def test_a_waiting_retry_finds_its_message_committed_after_its_request_began(
    app: Flask, make_user
) -> None:
    """A send that waits in a batch must read the database as of after the batch.

    Over HTTP the caller's session has a read transaction open (loading the user); on
    SQLite that transaction's snapshot would hide a message committed since, so the
    retry's lookup of its own earlier attempt would find nothing.
    """
    user = make_user("Retrier")
    room_id = uuid.UUID(user.create_room("retries")["id"])
    queue_ready = user.call(
        "POST", f"/api/rooms/{room_id}/messages", json={"body": "warm-up", "client_id": "w"}
    )
    assert queue_ready.status_code == 201
    queue = app.extensions[messages.SEND_QUEUE_KEY]
    store = queue.store
    release_leader = threading.Event()

    def leader_waits_for_the_retry() -> None:
        assert release_leader.wait(DEADLINE)
        _wait_until(lambda: _queued(queue) == 2, "the retry queued behind the leader")

    queue.yield_now = leader_waits_for_the_retry
    with app.app_context():
        sender = db.session.get(User, uuid.UUID(user.id))  # a read transaction begins
        assert db.session().in_transaction()
        # The first attempt of "x" is committed meanwhile, by another request (another
        # thread: a request in this one would share this app context and its session).
        queue.yield_now = lambda: None
        first = _start(
            lambda: user.call(
                "POST", f"/api/rooms/{room_id}/messages", json={"body": "hello", "client_id": "x"}
            )
        )
        assert first.result(DEADLINE).status_code == 201
        queue.yield_now = leader_waits_for_the_retry
        # The leader (another send) holds the queue; the retry of "x" waits in its batch.
        other = _start(
            lambda: user.call(
                "POST", f"/api/rooms/{room_id}/messages", json={"body": "other", "client_id": "y"}
            )
        )
        _wait_until(lambda: _queued(queue) == 1, "the leader queued")
        release_leader.set()
        message, created = messages.post_message(sender, room_id, "hello", "x")
        db.session.remove()
    assert other.result(DEADLINE).status_code == 201
    assert created is False
    assert (message.body, message.seq) == ("hello", 2)
    queue.store = store


@pytest.mark.both_databases
def test_a_lone_send_is_one_statement_on_postgresql_and_two_on_sqlite(
    app: Flask, make_user
) -> None:
    """A batch of one send asks membership inside the statement that takes its numbers
    (docs/performance.md, items 14 and 26): a member's send writes, an outsider's is
    refused by the same statement and leaves the room's numbers as they were (then one
    SELECT asks why: a session that ended would be 401). On PostgreSQL the statement
    runs outside a transaction (item 29): no BEGIN or COMMIT round trips around it,
    unless a message may mention someone (its mention rows are a second statement)."""
    owner, outsider = make_user("Owner"), make_user("Outsider")
    room_id = uuid.UUID(owner.create_room("lone")["id"])
    statements: list[str] = []
    in_autocommit: list[bool] = []  # PostgreSQL's driver connection, at each statement
    on_sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")

    def record(conn, _cursor, statement, *_args) -> None:
        statements.append(statement.split(None, 1)[0].upper())
        if not on_sqlite:
            in_autocommit.append(conn.connection.driver_connection.autocommit)

    with app.app_context():
        engine = db.engine
        senders = {user.id: db.session.get(User, uuid.UUID(user.id)) for user in (owner, outsider)}
        event.listen(engine, "before_cursor_execute", record)
        try:
            message, created = messages.post_message(senders[owner.id], room_id, "alone", "l-1")
            member_statements, statements[:] = list(statements), []
            member_autocommit, in_autocommit[:] = list(in_autocommit), []
            messages.post_message(senders[owner.id], room_id, "hi @Outsider", "l-3")
            mention_autocommit, in_autocommit[:], statements[:] = list(in_autocommit), [], []
            with pytest.raises(NotFound):
                messages.post_message(senders[outsider.id], room_id, "outside", "l-2")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        room = db.session.get(Room, room_id, populate_existing=True)
        assert (room.last_seq, room.last_change) == (2, 2)
        assert (message.seq, message.body, created) == (1, "alone", True)
        assert message.sender.id == senders[owner.id].id
    assert member_statements == (["UPDATE", "INSERT"] if on_sqlite else ["WITH"])
    assert statements == (["UPDATE", "SELECT"] if on_sqlite else ["WITH", "SELECT"])
    if not on_sqlite:
        assert member_autocommit == [True], "the one statement, outside a transaction"
        assert mention_autocommit and not any(mention_autocommit), "mentions: a transaction"


@pytest.mark.both_databases
def test_members_among_answers_for_more_pairs_than_one_query_holds(app: Flask, make_user) -> None:
    """Members and their versions found among more (room, user) pairs than one query's
    slots, with non-members and repeated pairs mixed in."""
    owner, outsider = make_user("Owner"), make_user("Outsider")
    rooms = [uuid.UUID(owner.create_room(f"room {n}")["id"]) for n in range(20)]
    owner_id, outsider_id = uuid.UUID(owner.id), uuid.UUID(outsider.id)
    pairs = [(room, owner_id) for room in rooms] + [(room, outsider_id) for room in rooms[:5]]
    pairs += pairs[:3]  # repeated
    assert len(set(pairs)) > permissions.PAIRS_PER_QUERY
    with app.app_context():
        db.session.execute(
            update(User).where(User.id == owner_id).values(session_epoch=User.session_epoch + 1)
        )
        db.session.commit()
        found = permissions.members_among(db.session.connection(), pairs)
        stored = db.session.get(User, owner_id)
        version = (stored.session_epoch, stored.profile.updated_at)
    assert set(found) == {(room, owner_id) for room in rooms}
    assert set(found.values()) == {version}


@pytest.mark.parametrize("slots", sorted(permissions._MEMBERS_AMONG))
def test_members_among_looks_each_pair_up_in_the_index_on_sqlite(app: Flask, slots: int) -> None:
    """SQLite answered an IN list of two pairs or more by scanning every membership;
    every size of the lookup's statement searches the index instead."""
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name != "sqlite":  # CHAT_TESTS_ALL_DATABASES runs it on both
            pytest.skip("a plan of SQLite's")
        statement = permissions._MEMBERS_AMONG[slots].compile(dialect=connection.dialect)
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", (None,) * len(statement.positiontup)
        ).all()
    steps = [row[-1] for row in plan]
    assert any(
        step.startswith("SEARCH room_members USING") and "(room_id=? AND user_id=?)" in step
        for step in steps
    ), steps
    assert not any(step.startswith("SCAN room_members") for step in steps), steps


@pytest.mark.both_databases
@pytest.mark.parametrize("count", [1, 2, 3, 5, 16])
def test_members_among_takes_the_smallest_statement_that_holds_the_pairs(
    app: Flask, make_user, count: int
) -> None:
    """A lone send's lookup binds one pair, not a batch's worth of empty slots
    (docs/performance.md, item 20), and every size answers the same."""
    owner, outsider = make_user("Owner"), make_user("Outsider")
    rooms = [uuid.UUID(owner.create_room(f"room {n}")["id"]) for n in range(count)]
    owner_id, outsider_id = uuid.UUID(owner.id), uuid.UUID(outsider.id)
    pairs = [(room, owner_id) for room in rooms[:-1]] + [(rooms[-1], outsider_id)]
    executed: list[int] = []

    def count_slots(_conn, _cursor, _statement, parameters, _context, _many) -> None:
        executed.append(len(parameters) // 2)

    with app.app_context():
        connection = db.session.connection()
        event.listen(connection, "before_cursor_execute", count_slots)
        found = permissions.members_among(connection, pairs)
    expected_slots = min(size for size in permissions._MEMBERS_AMONG if size >= count)
    assert executed == [expected_slots]
    assert set(found) == {(room, owner_id) for room in rooms[:-1]}


@pytest.mark.both_databases
def test_a_send_over_http_needs_no_second_pooled_connection(
    tmp_path, migrated_template, db_backend: str, request: pytest.FixtureRequest
) -> None:
    """The batch's leader takes a connection of its own to store the batch; a sender
    over HTTP, whose request holds one to load its user, lets it go first. Otherwise
    senders queued behind a leader could hold the whole pool while it waits for one."""
    with _one_connection_app(tmp_path, migrated_template, db_backend, request) as app:
        user = InProcessUser(app.test_client()).register("Pooled")
        room = user.create_room("one connection")
        for number in range(3):
            sent = user.call(
                "POST", f"/api/rooms/{room['id']}/messages", json={"body": f"m{number}"}
            )
            assert sent.status_code == 201, sent.get_data(as_text=True)
        page = user.call("GET", f"/api/rooms/{room['id']}/messages").get_json()
        assert [message["body"] for message in page["messages"]] == ["m0", "m1", "m2"]


@pytest.mark.both_databases
def test_no_free_connection_in_time_is_unavailable_not_an_error(
    tmp_path, migrated_template, db_backend: str, request: pytest.FixtureRequest
) -> None:
    """The pool's timeout (every connection in use: overload) answers 503, the ack
    ``unavailable`` and a refused handshake, as an outage does, so that clients retry;
    nothing is half stored."""
    with _one_connection_app(tmp_path, migrated_template, db_backend, request) as app:
        user = InProcessUser(app.test_client()).register("Pooled")
        room = user.create_room("one connection")
        sockets = socketio.test_client(app, flask_test_client=user.client)
        assert sockets.is_connected()
        try:
            with app.app_context(), db.engine.connect() as held:
                held.exec_driver_sql("SELECT 1")  # the pool's only connection, in use
                # HTTP: loading the user is the first to wait for a connection.
                for method, body in (("GET", None), ("POST", {"body": "x"})):
                    answer = user.call(method, f"/api/rooms/{room['id']}/messages", json=body)
                    assert answer.status_code == 503, (method, answer.get_data(as_text=True))
                    assert answer.get_json()["error"] == "unavailable"
                # A socket's send waits in the batch's own connection; its sync in the session.
                ack = sockets.emit(
                    "send_message",
                    {"room_id": room["id"], "body": "y", "client_id": "y-1"},
                    callback=True,
                )
                assert (ack["ok"], ack["error"]) == (False, "unavailable"), ack
                ack = sockets.emit("sync", {"rooms": {room["id"]: 0}}, callback=True)
                assert (ack["ok"], ack["error"]) == (False, "unavailable"), ack
                refused = socketio.test_client(app, flask_test_client=user.client)
                assert not refused.is_connected()
            ack = sockets.emit(
                "send_message",
                {"room_id": room["id"], "body": "y", "client_id": "y-1"},
                callback=True,
            )
            assert ack["ok"] and ack["message"]["seq"] == 1, "the refused attempts took no seq"
        finally:
            sockets.disconnect()


@contextmanager
def _one_connection_app(tmp_path, migrated_template, db_backend, request) -> Iterator[Flask]:
    """The test app with a pool of one connection, which gives up waiting after 1 s."""
    one_connection = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 1}
    with fresh_app(
        tmp_path, migrated_template, db_backend, request, SQLALCHEMY_ENGINE_OPTIONS=one_connection
    ) as app:
        yield app
