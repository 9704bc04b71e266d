"""Writing a batch of sends: the rooms' numbers and the message rows, in few statements.

Why a module of its own: a batch (``group_commit``) used to cost two statements per
send on SQLite and one network round trip per send on PostgreSQL, and SQLAlchemy's
cost per executed statement (about 40 µs here) was more than the database's own work
(docs/performance.md, item 14). Here a batch costs the same few statements whatever
its size:

- **PostgreSQL**: one statement. The sends travel as arrays, ``unnest`` turns them
  into rows, and data-modifying CTEs check membership, lock the rooms in id order (so
  that two instances' batches cannot deadlock), take each room's numbers once and
  insert the rows: one round trip for the batch.
- **SQLite** (no UPDATE inside WITH): one SELECT for the senders' memberships, one
  UPDATE per room of the batch, one multi-row INSERT. Its write lock (``BEGIN
  IMMEDIATE``) is held from the first, so what the SELECT saw still holds at the INSERT.
  A lone send, the usual case below capacity, costs two: its UPDATE asks the
  membership and reads the sender's versions itself (docs/performance.md, item 26).

Numbers: a room's sends in the batch take consecutive seqs in arrival order, from the
room's ``last_seq`` on; a refused send takes none (no gap). The caller's transaction
makes it all or nothing; PostgreSQL's one statement is all or nothing by itself.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from ..models import Message, Room
from . import permissions

_rooms = Room.__table__
_messages = Message.__table__


@dataclass(frozen=True, slots=True)
class Written:
    """What the batch wrote for one send, and the sender's profile version read beside it."""

    seq: int
    change: int
    profile_updated_at: datetime | None
    message_id: int


def message_row(params: dict[str, Any], seq: int, change: int) -> dict[str, Any]:
    """The stored row's columns, from a send's parameters and its numbers."""
    return {
        "room_id": params["room_id"],
        "sender_id": params["user_id"],
        "seq": seq,
        "change_seq": change,
        "body": params["body"],
        "client_id": params["client_id"],
        "created_at": params["now"],
    }


def write_batch(connection: Connection, sends: list[dict[str, Any]]) -> dict[int, Written]:
    """Write the sends (``room_id``, ``user_id``, ``body``, ``client_id``, ``now``,
    ``epoch``: the sender's session epoch when they sent) whose sender is a member of
    their room and still in that session; returns what was written, by index in
    ``sends``. An index that is missing is a refused send (``permissions.send_refusal``
    tells why): nothing was written for it."""
    if in_one_statement(connection.dialect.name):
        return _write_in_one_statement(connection, sends)
    if len(sends) == 1:
        return _write_one(connection, sends[0])
    return _write_in_three_steps(connection, sends)


def in_one_statement(dialect_name: str) -> bool:
    """Whether ``write_batch`` writes in one statement on this database (PostgreSQL):
    atomic without a transaction around it."""
    return dialect_name == "postgresql"


# --- PostgreSQL: one statement ------------------------------------------------------------

_timestamp = DateTime(timezone=True)
_incoming = (
    func.unnest(
        bindparam("room_ids", type_=ARRAY(Uuid)),
        bindparam("user_ids", type_=ARRAY(Uuid)),
        bindparam("bodies", type_=ARRAY(Text)),
        bindparam("client_ids", type_=ARRAY(String)),
        bindparam("sent_at", type_=ARRAY(_timestamp)),
        bindparam("epochs", type_=ARRAY(Integer)),
    )
    .table_valued(
        column("room_id", Uuid),
        column("user_id", Uuid),
        column("body", Text),
        column("client_id", String),
        column("created_at", _timestamp),
        column("epoch", Integer),
        with_ordinality="arrival",
    )
    .render_derived()
)
# The members' sends, each with its place among its room's sends in the batch (1, 2, ...).
_allowed = (
    select(
        _incoming,
        func.row_number()
        .over(partition_by=_incoming.c.room_id, order_by=_incoming.c.arrival)
        .label("place_in_room"),
    )
    .where(
        permissions.membership(_incoming.c.room_id, _incoming.c.user_id),
        permissions.in_session(_incoming.c.user_id, _incoming.c.epoch),
    )
    .cte("allowed")
)
_counts = (
    select(
        _allowed.c.room_id,
        func.count().label("taken"),
        func.max(_allowed.c.created_at).label("latest"),
    )
    .group_by(_allowed.c.room_id)
    .cte("counts")
)
# Rows are locked as this yields them, in id order; the UPDATE below only sees rows that
# came through it.
_locked = (
    select(_rooms.c.id)
    .where(_rooms.c.id.in_(select(_counts.c.room_id)))
    .order_by(_rooms.c.id)
    # FOR NO KEY UPDATE, what the UPDATE itself takes: a foreign key check (a member
    # joining the room) does not wait for it.
    .with_for_update(key_share=True)
    .cte("locked")
)
_numbers = (
    update(_rooms)
    .where(_rooms.c.id == _locked.c.id, _rooms.c.id == _counts.c.room_id)
    .values(
        last_seq=_rooms.c.last_seq + _counts.c.taken,
        last_change=_rooms.c.last_change + _counts.c.taken,
        last_activity_at=_counts.c.latest,
    )
    .returning(
        _rooms.c.id,
        (_rooms.c.last_seq - _counts.c.taken).label("seq_before"),
        (_rooms.c.last_change - _counts.c.taken).label("change_before"),
    )
    .cte("numbers")
)
_seq_of_send = _numbers.c.seq_before + _allowed.c.place_in_room
_inserted = (
    insert(_messages)
    .from_select(
        ["room_id", "sender_id", "seq", "change_seq", "body", "client_id", "created_at"],
        select(
            _allowed.c.room_id,
            _allowed.c.user_id,
            _seq_of_send,
            _numbers.c.change_before + _allowed.c.place_in_room,
            _allowed.c.body,
            _allowed.c.client_id,
            _allowed.c.created_at,
        )
        .join_from(_allowed, _numbers, _numbers.c.id == _allowed.c.room_id)
        # Ids in arrival order, as one send per transaction gave them (search pages by id).
        .order_by(_allowed.c.arrival),
    )
    .returning(_messages.c.id, _messages.c.room_id, _messages.c.seq, _messages.c.change_seq)
    .cte("inserted")
)
_WRITE_BATCH = select(
    _allowed.c.arrival,
    _inserted.c.seq,
    _inserted.c.change_seq,
    permissions.profile_version(_allowed.c.user_id),
    _inserted.c.id,
).select_from(
    _allowed.join(_numbers, _numbers.c.id == _allowed.c.room_id).join(
        _inserted,
        and_(_inserted.c.room_id == _allowed.c.room_id, _inserted.c.seq == _seq_of_send),
    )
)


def _write_in_one_statement(
    connection: Connection, sends: list[dict[str, Any]]
) -> dict[int, Written]:
    rows = connection.execute(
        _WRITE_BATCH,
        {
            "room_ids": [send["room_id"] for send in sends],
            "user_ids": [send["user_id"] for send in sends],
            "bodies": [send["body"] for send in sends],
            "client_ids": [send["client_id"] for send in sends],
            "sent_at": [send["now"] for send in sends],
            "epochs": [send["epoch"] for send in sends],
        },
    )
    # WITH ORDINALITY counts from 1.
    return {arrival - 1: Written(*written) for arrival, *written in rows}


# --- SQLite: three steps --------------------------------------------------------------------

_TAKE_NUMBERS = (
    update(_rooms)
    .where(_rooms.c.id == bindparam("room_id"))
    .values(
        last_seq=_rooms.c.last_seq + bindparam("taken"),
        last_change=_rooms.c.last_change + bindparam("taken"),
        last_activity_at=bindparam("latest", type_=_timestamp),
    )
    .returning(_rooms.c.last_seq, _rooms.c.last_change)
)
_INSERT_MESSAGES = insert(_messages).returning(_messages.c.id, _messages.c.room_id, _messages.c.seq)
# A lone send's numbers, taken only if its sender is a member still in the send's session,
# with the sender's profile version beside them: the batch's SELECT of memberships and
# its UPDATE in one statement.
# (Parameters named like none of rooms' columns: an UPDATE would also SET such a column.
# SQLAlchemy writes the RETURNING subqueries' columns without their table's name, which
# SQLite resolves in the subquery's own table first: a subquery there that named a
# column of ``rooms`` too would need care.)
_TAKE_ONE_NUMBER_AS_MEMBER = (
    update(_rooms)
    .where(
        _rooms.c.id == bindparam("room_id"),
        permissions.membership(_rooms.c.id, bindparam("user_id")),
        permissions.in_session(bindparam("user_id"), bindparam("sender_epoch")),
    )
    .values(
        last_seq=_rooms.c.last_seq + 1,
        last_change=_rooms.c.last_change + 1,
        last_activity_at=bindparam("latest", type_=_timestamp),
    )
    .returning(
        _rooms.c.last_seq,
        _rooms.c.last_change,
        permissions.profile_version(bindparam("user_id")),
    )
)


def _write_in_three_steps(
    connection: Connection, sends: list[dict[str, Any]]
) -> dict[int, Written]:
    versions = permissions.members_among(
        connection, ((send["room_id"], send["user_id"]) for send in sends)
    )
    by_room: dict[uuid.UUID, list[int]] = defaultdict(list)
    for index, send in enumerate(sends):
        version = versions.get((send["room_id"], send["user_id"]))
        if version is not None and permissions.in_current_session(send["epoch"], version[0]):
            by_room[send["room_id"]].append(index)
    numbers: dict[int, tuple[int, int]] = {}
    for room_id, indexes in by_room.items():
        taken = connection.execute(
            _TAKE_NUMBERS,
            {
                "room_id": room_id,
                "taken": len(indexes),
                "latest": max(sends[index]["now"] for index in indexes),
            },
        ).first()
        if taken is None:
            continue  # the room is gone: its sends are refused like a non-member's
        last_seq, last_change = taken
        first = len(indexes) - 1
        for rank, index in enumerate(indexes):
            numbers[index] = (last_seq - first + rank, last_change - first + rank)
    if not numbers:
        return {}
    ids = {
        (room_id, seq): message_id
        for message_id, room_id, seq in connection.execute(
            _INSERT_MESSAGES,
            # Ids in arrival order, as one send per transaction gave them (search pages by id).
            [message_row(sends[index], *numbers[index]) for index in sorted(numbers)],
        )
    }
    written = {}
    for index, (seq, change) in numbers.items():
        send = sends[index]
        _epoch, profile_updated_at = versions[send["room_id"], send["user_id"]]
        written[index] = Written(seq, change, profile_updated_at, ids[send["room_id"], seq])
    return written


def _write_one(connection: Connection, send: dict[str, Any]) -> dict[int, Written]:
    """A batch of one send in two statements: numbers (if a member), then the row."""
    taken = connection.execute(
        _TAKE_ONE_NUMBER_AS_MEMBER,
        {
            "room_id": send["room_id"],
            "user_id": send["user_id"],
            "sender_epoch": send["epoch"],
            "latest": send["now"],
        },
    ).first()
    if taken is None:
        return {}  # not a member, the session ended, or the room is gone: nothing written
    seq, change, profile_updated_at = taken
    message_id = connection.execute(_INSERT_MESSAGES, message_row(send, seq, change)).scalar_one()
    return {0: Written(seq, change, profile_updated_at, message_id)}
