"""The app's own CPU per send or per history page, in one process, without the network.

``python -m bench.inprocess send|batch|history [--postgres URL] [--count N]
[--memberships N] [--batch-size N] [--background-checkpoints] [--profile]``

The full benchmark (``python -m bench``) measures what a client sees, with the
server, the WebSocket stack and the load generators sharing two cores: right for
the targets, but noisy, and minutes per run. This drives the same code paths
through Flask-SocketIO's and Flask's test clients instead (no sockets, no
Engine.IO, no gunicorn), so what it reports is the application's share alone:
the event handler or the route, the services, SQLAlchemy and the database
driver. Repeatable to a few per cent on a quiet machine, in seconds, which is
what comparing two versions of one function needs. ``batch`` stores batches of 10
sends from 10 members of one room (``--batch-size``) the way group commit does (what scenario 2's
load makes), without the event handlers: the CPU per stored message of the store
alone. ``--memberships`` first fills the database with other rooms' memberships (a
database in use, not one holding the bench's rooms only). ``send`` also prints its
sends' p50 and p99 of wall time, and ``--background-checkpoints`` checkpoints SQLite's
WAL as a serving process does (``chat/sqlite_checkpoints.py``). ``--profile`` adds
cProfile's top functions (which slows everything by about 2x; compare shares).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from flask_migrate import upgrade  # noqa: E402

from chat import create_app, sqlite_checkpoints  # noqa: E402
from chat.extensions import db, socketio  # noqa: E402
from chat.models import Profile, Room, RoomMember, User, utcnow  # noqa: E402
from chat.services import messages  # noqa: E402

from .harness import percentile  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent


def make_app(database_url: str | None):
    """The production configuration (its logging included) on a fresh database."""
    workdir = Path(tempfile.mkdtemp(prefix="chat-inprocess-"))
    app = create_app(
        "production",
        SQLALCHEMY_DATABASE_URI=database_url or f"sqlite:///{workdir / 'chat.sqlite3'}",
        SECRET_KEY="inprocess-bench",
        UPLOAD_FOLDER=str(workdir / "uploads"),
        RATELIMIT_ENABLED=False,
        PASSWORD_HASH_TIME_COST=1,
        PASSWORD_HASH_MEMORY_KIB=8,
        WTF_CSRF_ENABLED=False,
        SESSION_COOKIE_SECURE=False,
    )
    with app.app_context():
        upgrade(directory=str(PROJECT_DIR / "migrations"))
    return app


def add_memberships(app, count: int, per_room: int = 100) -> None:
    """``count`` memberships of other rooms: 1,000 people, ``per_room`` of them in each room."""
    now = utcnow()
    users = [uuid.uuid4() for _ in range(1000)]
    rooms = [uuid.uuid4() for _ in range(max(count // per_room, 1))]
    with app.app_context():
        db.session.execute(
            User.__table__.insert(),
            [
                {"id": user, "email": f"{user.hex}@example.com", "password_hash": "-"}
                for user in users
            ],
        )
        db.session.execute(
            Profile.__table__.insert(),
            [
                {"user_id": user, "display_name": f"Person {n}", "name_key": f"person {n}"}
                for n, user in enumerate(users)
            ],
        )
        db.session.execute(
            Room.__table__.insert(),
            [{"id": room, "kind": "group", "title": "other", "created_at": now} for room in rooms],
        )
        db.session.execute(
            RoomMember.__table__.insert(),
            [
                {"room_id": rooms[number // per_room], "user_id": users[number % len(users)]}
                for number in range(len(rooms) * per_room)
            ],
        )
        db.session.commit()


def register(app, display_name: str = "Bench"):
    """A new person, logged in: their test client and their id."""
    client = app.test_client()
    response = client.post(
        "/api/auth/register",
        json={
            "email": f"{uuid.uuid4().hex[:12]}@example.com",
            "password": "a long enough password",
            "display_name": display_name,
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return client, response.get_json()["id"]


def signed_in(app):
    client, _user_id = register(app)
    room = client.post("/api/rooms", json={"title": "Bench", "member_ids": []}).get_json()
    return client, room["id"]


def send_loop(app, durations: list[float] | None = None) -> Callable[[int], None]:
    """Sends one after another; each one's wall time goes to ``durations`` if given."""
    client, room_id = signed_in(app)
    sockets = socketio.test_client(app, flask_test_client=client)
    assert sockets.is_connected()

    def run(count: int) -> None:
        for number in range(count):
            started = time.perf_counter()
            ack = sockets.emit(
                "send_message",
                {"room_id": room_id, "body": f"bench {number}", "client_id": uuid.uuid4().hex},
                callback=True,
            )
            if durations is not None:
                durations.append(time.perf_counter() - started)
            assert ack["ok"], ack
            if number % 500 == 499:
                # Whatever was pushed, so that it does not pile up. Since the ninth round
                # (item 25) that is nothing: a sender's own messages come in its acks, so
                # figures from before it include the test client's handling of a push.
                sockets.get_received()
        sockets.get_received()

    return run


def batch_loop(app, size: int = 10) -> Callable[[int], None]:
    client, room_id = signed_in(app)
    member_ids = [client.get("/api/me").get_json()["id"]]
    for _ in range(size - 1):
        member, member_id = register(app)
        assert member.post(f"/api/rooms/{room_id}/join").status_code in (200, 201)
        member_ids.append(member_id)
    room = uuid.UUID(room_id)
    with app.app_context():
        members = [db.session.get(User, uuid.UUID(member_id)) for member_id in member_ids]
        epochs = [(member.id, member.session_epoch) for member in members]
        db.session.remove()

    def run(count: int) -> None:
        with app.app_context():
            for start in range(0, count, size):
                batch = [
                    messages._Send(
                        {
                            "room_id": room,
                            "user_id": user_id,
                            "body": f"bench {start + place}",
                            "client_id": uuid.uuid4().hex,
                            "now": utcnow(),
                            "epoch": epoch,
                        }
                    )
                    for place, (user_id, epoch) in enumerate(epochs)
                ]
                outcomes = messages._store_sends(batch)
                assert not any(isinstance(outcome, Exception) for outcome in outcomes)
            db.session.remove()

    return run


def history_loop(app) -> Callable[[int], None]:
    client, room_id = signed_in(app)
    for number in range(120):
        response = client.post(
            f"/api/rooms/{room_id}/messages",
            json={"body": f"message number {number} of the room", "client_id": uuid.uuid4().hex},
        )
        assert response.status_code == 201
    url = f"/api/rooms/{room_id}/messages"

    def run(count: int) -> None:
        for _ in range(count):
            response = client.get(url)
            assert response.status_code == 200 and len(response.get_json()["messages"]) == 50

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["send", "batch", "history"])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--memberships", type=int, default=0, metavar="N")
    parser.add_argument("--batch-size", type=int, default=10, help="sends per batch (batch)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--background-checkpoints",
        action="store_true",
        help="checkpoint SQLite's WAL in the background, as a serving process does",
    )
    args = parser.parse_args()
    app = make_app(args.postgres)
    if args.background_checkpoints:
        sqlite_checkpoints.start(app)
    if args.memberships:
        add_memberships(app, args.memberships)
    durations: list[float] = []
    if args.what == "batch":
        run = batch_loop(app, args.batch_size)
    elif args.what == "send":
        run = send_loop(app, durations)
    else:
        run = history_loop(app)
    run(max(args.count // 10, 20))  # warm-up: caches, pools, compiled statements
    durations.clear()
    started, started_wall = time.process_time(), time.perf_counter()
    run(args.count)
    per_operation = (time.process_time() - started) / args.count * 1e6
    # Wall time counts what CPU time does not: waiting for PostgreSQL's answers.
    wall_per_operation = (time.perf_counter() - started_wall) / args.count * 1e6
    unit = {"send": "send", "batch": "stored message", "history": "page"}[args.what]
    print(
        f"CPU per {unit}: {per_operation:,.0f} µs, wall time {wall_per_operation:,.0f} µs"
        f" ({args.count} operations)"
    )
    if durations:
        # Each send's wall time: the tail shows what a commit sometimes waits for.
        p50, p99 = (percentile(durations, pct) * 1e3 for pct in (50, 99))
        slowest = max(durations) * 1e3
        print(f"send wall time p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {slowest:.2f} ms")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(args.count)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
