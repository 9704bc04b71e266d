"""SQLite's plan for every statement a session runs: ``python -m bench.plans``.

A statement that scans a large table costs little on the bench's small databases and
a lot on a community's: the fifth round found a batch's membership lookup scanning
every membership (docs/performance.md, item 15). This drives one session of the
usual requests (register, rooms, sends over HTTP and a socket, edits, history and
catch-up pages, read marks, the room list, the directory, search) against a database
holding other rooms' memberships and messages, records every distinct statement,
runs ``ANALYZE`` and prints each statement whose plan scans a table or sorts, so
that a new query's plan is read before it ships.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import sqlite3  # noqa: E402
import uuid  # noqa: E402

from sqlalchemy import event, select  # noqa: E402

from chat.extensions import db, socketio  # noqa: E402
from chat.models import Message, MessageMention, Room, User  # noqa: E402

from .inprocess import add_memberships, make_app, register  # noqa: E402


def _add_messages(app, count: int) -> None:
    """``count`` messages in up to 200 of the other rooms, every 50th mentioning someone."""
    with app.app_context():
        rooms = db.session.scalars(select(Room.id).where(Room.last_seq == 0).limit(200)).all()
        users = db.session.scalars(select(User.id).limit(1000)).all()
        db.session.execute(
            Message.__table__.insert(),
            [
                {
                    "room_id": rooms[number % len(rooms)],
                    "sender_id": users[number % len(users)],
                    "seq": number // len(rooms) + 1,
                    "change_seq": number // len(rooms) + 1,
                    "body": f"message {number}, hello",
                }
                for number in range(count)
            ],
        )
        every_50th = db.session.scalars(select(Message.id).where(Message.id % 50 == 0)).all()
        db.session.execute(
            MessageMention.__table__.insert(),
            [
                {"message_id": message_id, "user_id": users[message_id % len(users)]}
                for message_id in every_50th
            ],
        )
        db.session.commit()


def _one_session(app) -> None:
    alice, alice_id = register(app, "Alice")
    bob, bob_id = register(app, "Bob")
    room_id = alice.post("/api/rooms", json={"title": "R", "member_ids": [bob_id]}).get_json()["id"]
    messages = f"/api/rooms/{room_id}/messages"
    for number in range(5):
        alice.post(messages, json={"body": f"hi @Bob {number}", "client_id": uuid.uuid4().hex})
    edited = alice.post(messages, json={"body": "to edit"}).get_json()
    alice.patch(f"/api/messages/{edited['id']}", json={"body": "edited"})
    alice.delete(f"/api/messages/{edited['id']}")
    for query in ("", "?before=3", "?after=1", "?around=2"):
        bob.get(messages + query)
    bob.get(f"/api/rooms/{room_id}/changes?since=0")
    bob.post(f"/api/rooms/{room_id}/read", json={"seq": 3})
    for path in ("/api/rooms", f"/api/rooms/{room_id}", "/api/users", "/api/users?q=Al"):
        bob.get(path)
    bob.get("/api/search?q=hello")
    bob.post(f"/api/users/{alice_id}/direct")
    sockets = socketio.test_client(app, flask_test_client=bob)
    sockets.emit(
        "send_message", {"room_id": room_id, "body": "hi", "client_id": "s"}, callback=True
    )
    sockets.emit("sync", {"rooms": {room_id: 0}}, callback=True)
    sockets.emit("mark_read", {"room_id": room_id, "seq": 5}, callback=True)
    sockets.emit("typing", {"room_id": room_id}, callback=True)
    sockets.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memberships", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=40_000)
    args = parser.parse_args()
    app = make_app(None)
    add_memberships(app, args.memberships)
    _add_messages(app, args.messages)
    statements: dict[str, None] = {}
    with app.app_context():

        @event.listens_for(db.engine, "before_cursor_execute")
        def _record(_conn, _cursor, statement: str, *_args) -> None:
            if not statement.lstrip().upper().startswith(("PRAGMA", "BEGIN", "ANALYZE")):
                statements.setdefault(statement)

        path = db.engine.url.database
    _one_session(app)
    database = sqlite3.connect(path)
    database.execute("ANALYZE")
    flagged = 0
    for statement in statements:
        plan = database.execute(
            f"EXPLAIN QUERY PLAN {statement}", [None] * statement.count("?")
        ).fetchall()
        steps = [row[-1] for row in plan]
        worth_reading = [
            step
            for step in steps
            if (step.startswith("SCAN") and "CONSTANT ROW" not in step and step != "SCAN pairs")
            or "TEMP B-TREE" in step
        ]
        if worth_reading:
            flagged += 1
            print(" ".join(statement.split())[:300])
            for step in worth_reading:
                print("    ", step)
    print(f"{len(statements)} statements, {flagged} with a scan or a sort to read")


if __name__ == "__main__":
    main()
