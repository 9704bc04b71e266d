"""Bulk history for scenario 6: a million messages in minutes, straight into the database.

Sending them through the API would take hours; the schema's rules are kept by hand
instead, after ``flask db upgrade`` built it:

- every room's messages have ``seq`` 1..N and ``change_seq`` 1..N (unique per room,
  no gap), and the room's ``last_seq`` / ``last_change`` are N;
- ``created_at`` grows with ``seq``; ``client_id`` is NULL (never collides);
- whatever the migrations attached to ``messages`` still runs: SQLite's FTS5
  triggers index every row, PostgreSQL computes the generated ``search_vector``;
- SQLite's WAL is checkpointed at the end, so the server does not inherit it.

SQLite is filled with SQLAlchemy Core ``executemany`` (the types' own bind processing,
so UUIDs and datetimes are stored exactly as the app stores them); PostgreSQL with
``COPY``. Both end with ``ANALYZE``, as a database that grew slowly would have had.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Table, create_engine, insert, text, update

CHUNK = 20_000


def _bodies() -> Iterator[str]:
    words = ["lunch", "deploy", "meeting", "review", "coffee", "ticket", "release", "hello"]
    index = 0
    while True:
        yield f"message {index} about {words[index % len(words)]} and more"
        index += 1


def plan(total: int, rooms: int, big: int) -> list[int]:
    """How many messages each room gets: the big room first, the rest spread evenly."""
    others = rooms - 1
    rest = total - big
    if others <= 0:
        return [total]
    share, extra = divmod(rest, others)
    return [big] + [share + (1 if i < extra else 0) for i in range(others)]


def fill(url: str, owner_id: str, big_room_id: str, total: int, rooms: int, big: int) -> dict:
    """Fill the database at ``url`` (SQLAlchemy URL); returns counts and the time it took."""
    from chat.models import Message, Room

    started = time.perf_counter()
    engine = create_engine(url)
    counts = plan(total, rooms, big)
    owner = uuid.UUID(owner_id)
    room_ids = [uuid.UUID(big_room_id)] + [uuid.uuid4() for _ in counts[1:]]
    base = datetime(2025, 1, 1, tzinfo=UTC)
    seeded_rooms = [
        {
            "id": room_id,
            "kind": "group",
            "title": f"Seeded {n}",
            "created_by_id": owner,
            "created_at": base,
            "last_activity_at": base,
        }
        for n, room_id in enumerate(room_ids[1:], start=1)
    ]
    if seeded_rooms:  # an empty parameter list would insert one row of defaults
        with engine.begin() as conn:
            conn.execute(insert(Room.__table__), seeded_rooms)
    if engine.dialect.name == "postgresql":
        _copy_postgres(engine, owner, room_ids, counts, base)
    else:
        _insert_sqlite(engine, Message.__table__, owner, room_ids, counts, base)
    with engine.begin() as conn:
        for room_id, count in zip(room_ids, counts, strict=True):
            conn.execute(
                update(Room.__table__)
                .where(Room.__table__.c.id == room_id)
                .values(
                    last_seq=count,
                    last_change=count,
                    last_activity_at=base + timedelta(seconds=count),
                )
            )
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
            # Move the bulk write out of the WAL into the database file now, as a database
            # that grew slowly would have done long ago: otherwise the server's first
            # commit would pay for checkpointing all of it (a 100 ms block of the hub).
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return {"messages": sum(counts), "rooms": len(counts), "seconds": time.perf_counter() - started}


def _rows(
    owner: uuid.UUID, room_ids: list[uuid.UUID], counts: list[int], base: datetime
) -> Iterator[dict]:
    bodies = _bodies()
    for room_id, count in zip(room_ids, counts, strict=True):
        for seq in range(1, count + 1):
            yield {
                "room_id": room_id,
                "sender_id": owner,
                "seq": seq,
                "change_seq": seq,
                "body": next(bodies),
                "client_id": None,
                "created_at": base + timedelta(seconds=seq),
            }


def _insert_sqlite(
    engine: Engine,
    table: Table,
    owner: uuid.UUID,
    room_ids: list[uuid.UUID],
    counts: list[int],
    base: datetime,
) -> None:
    rows = _rows(owner, room_ids, counts, base)
    with engine.begin() as conn:
        while True:
            chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            conn.execute(insert(table), chunk)


def _copy_postgres(
    engine: Engine, owner: uuid.UUID, room_ids: list[uuid.UUID], counts: list[int], base: datetime
) -> None:
    columns = "room_id, sender_id, seq, change_seq, body, client_id, created_at"
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY messages ({columns}) FROM STDIN") as copy:
            for row in _rows(owner, room_ids, counts, base):
                copy.write_row(
                    (
                        row["room_id"],
                        row["sender_id"],
                        row["seq"],
                        row["change_seq"],
                        row["body"],
                        None,
                        row["created_at"],
                    )
                )
        raw.commit()
    finally:
        raw.close()
