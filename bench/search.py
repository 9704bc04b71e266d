"""Search at scale: server time of ``GET /api/search`` over 100,000 messages (issue 9).

Builds a database of its own (SQLite file, or a throwaway PostgreSQL database) with
the migrations, fills it with messages through SQLAlchemy Core in bulk (the FTS5
triggers / the generated tsvector column index them as they go), and times the
search service in-process — the server's own time for the request's work, without
the network. Run: ``python -m bench.search [--messages N] [--postgres]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, update

from chat import create_app
from chat.extensions import db
from chat.models import Message, Profile, Room, RoomMember, User
from chat.services import search

WORDS = [
    "report",
    "meeting",
    "launch",
    "budget",
    "review",
    "design",
    "release",
    "deploy",
    "server",
    "client",
    "database",
    "index",
    "search",
    "socket",
    "message",
    "room",
    "people",
    "profile",
    "avatar",
    "notes",
    "plan",
    "안녕하세요",
    "회의",
    "내일",
    "프로젝트",
    "일정",
    "확인",
    "감사합니다",
    "привет",
    "проект",
    "отчёт",
]
QUERIES = ["report", "launch budget", "안녕", "회의", "проект", "zebra"]


def _fill(total: int, rooms: int, seed: int = 7) -> User:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    reader = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.org", password_hash="x")
    reader.profile = Profile(display_name="Bench")
    db.session.add(reader)
    room_ids = [uuid.uuid4() for _ in range(rooms)]
    db.session.execute(
        insert(Room),
        [
            {
                "id": rid,
                "kind": "group",
                "title": f"room {n}",
                "created_at": now,
                "last_activity_at": now,
                "last_seq": 0,
                "last_change": 0,
            }
            for n, rid in enumerate(room_ids)
        ],
    )
    db.session.flush()
    db.session.execute(
        insert(RoomMember),
        [{"room_id": rid, "user_id": reader.id, "joined_at": now} for rid in room_ids],
    )
    per_room = total // rooms
    batch: list[dict] = []
    for rid in room_ids:
        for seq in range(1, per_room + 1):
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
            batch.append(
                {
                    "room_id": rid,
                    "sender_id": reader.id,
                    "seq": seq,
                    "change_seq": seq,
                    "body": body,
                    "created_at": now,
                }
            )
            if len(batch) >= 5000:
                db.session.execute(insert(Message), batch)
                batch.clear()
        db.session.execute(
            update(Room).where(Room.id == rid).values(last_seq=per_room, last_change=per_room)
        )
    if batch:
        db.session.execute(insert(Message), batch)
    db.session.commit()
    return reader


def run(database_url: str, total: int, rooms: int, repeats: int) -> dict:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        started = time.perf_counter()
        reader = _fill(total, rooms)
        filled = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk load: statistics, visibility map, hint bits.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        figures = {}
        for query in QUERIES:
            timings = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                hits, _cursor = search.search(reader, query, limit=20)
                timings.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
            timings.sort()
            figures[query] = {
                "results": len(hits),
                "p50_ms": round(statistics.median(timings), 2),
                "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
            }
        db.engine.dispose()
    return {
        "database": database_url.split(":")[0],
        "messages": total,
        "rooms": rooms,
        "fill_seconds": round(filled, 1),
        "queries": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'search.sqlite3'}"
        outcomes.append(run(url, args.messages, args.rooms, args.repeats))
    if args.postgres:
        from tests.postgres_support import temp_database

        with temp_database(label="searchbench") as database:
            outcomes.append(run(database.url_string, args.messages, args.rooms, args.repeats))
    print(f"{'database':<12}{'query':<16}{'results':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for outcome in outcomes:
        for query, figure in outcome["queries"].items():
            print(
                f"{outcome['database']:<12}{query:<16}{figure['results']:>8}"
                f"{figure['p50_ms']:>9}{figure['p95_ms']:>9}"
            )
    Path("bench/search_results.json").write_text(json.dumps(outcomes, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
