"""Profile the server's hot paths with py-spy: ``python -m bench.profile send|fanout|history``.

Starts the chat server (as the bench does), drives one load for ``--seconds`` while
``py-spy record`` samples the gevent worker, and writes the collapsed stacks plus a
summary (``bench/profiles/<name>.txt``): the functions with the most samples on the
stack (inclusive) and at the top of it (self). docs/performance.md quotes these.

- ``send``: one websocket client sending acknowledged messages back to back (scenario 1).
- ``throughput``: 10 raw WebSocket senders in a room of 10 (scenario 2; python-socketio
  senders would saturate their own core first).
- ``fanout``: a room of ``--members`` receivers, 10 messages/s (scenario 3).
- ``history``: history pages of a 20,000-message room in a loop (scenario 6).
- ``idle``: ``--members`` idle websocket connections of 50 users, nothing sent (scenario 5);
  the samples are what the worker does for connections that only answer pings.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

from . import seed
from .harness import LoadGen, RelayAccount, register, register_many, room_of
from .servers import BENCH_DIR, CLIENT_CORES, SERVER_CORE, Workspace, raise_fd_limit

PY_SPY = Path(sys.executable).with_name("py-spy")


# The parts of the server's work that docs/performance.md discusses: a label and the
# function names (any of them on the stack) that stand for it.
COMPONENTS = [
    ("socket event handler (send_message)", {"socket_event.<locals>.decorate.<locals>.wrapper"}),
    ("  load the user (Flask-Login loader)", {"load_user"}),
    ("  messages.post_message", {"post_message"}),
    ("    retry lookup (_stored_retry)", {"_stored_retry"}),
    ("    membership check (a query of its own)", {"is_member"}),
    # The batch's statements: _store per send until the fourth round, write_batch after.
    ("    the batch's statements (numbers, rows)", {"_store", "write_batch"}),
    ("    commit (with the ORM flush)", {"Session.commit"}),
    ("    ORM flush", {"Session.flush"}),
    # realtime.message_payload (marshmallow) in the first round, payloads.message_payload after.
    ("  one message's payload (a push and ack; in a page, each message)", {"message_payload"}),
    ("  log line (message_sent)", {"event"}),
    ("Flask request context push/pop", {"RequestContext.push", "RequestContext.pop"}),
    ("HTTP request (Flask app)", {"Flask.wsgi_app"}),
    ("  history service (query + ORM)", {"history"}),
    ("    a page's queries and rows (read_page)", {"read_page"}),
    ("  response dump (marshmallow)", {"Schema.dump"}),
    ("  response payloads (chat/payloads.py)", {"message_payloads"}),
    (
        "Engine.IO / WebSocket I/O",
        {
            "Base._thread",
            "Socket._websocket_handler",
            "Socket._websocket_handler.<locals>.writer",
        },
    ),
    ("Socket.IO emit (fan-out)", {"Server.emit", "SocketIO.emit"}),
    ("garbage collection", {"<gc>"}),
    ("gevent hub's own loop (its idle wait may be counted)", {"Hub.run"}),
]


def summarise(collapsed: Path, operations: int = 0, rate: int = 250, top: int = 40) -> str:
    """Sample shares per component and per function from py-spy's collapsed stacks.

    With ``operations`` (sends, deliveries, pages), each share is also given as server
    CPU µs per operation: samples / rate / operations.
    """
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    parts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_short(frame) for frame in stack.split(";")]
        names = {frame.split(" (")[0] for frame in frames}
        for label, wanted in COMPONENTS:
            if label.startswith("gevent hub"):
                hit = frames[-1].startswith("Hub.run")
            else:
                hit = bool(names & wanted)
            if hit:
                parts[label] += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    per_op = 1e6 / rate / operations if operations else 0.0
    lines = [f"{total} samples at {rate}/s" + (f", {operations} operations" if operations else "")]
    lines += ["", "components (share of samples" + (", µs per operation)" if per_op else ")")]
    for label, _wanted in COMPONENTS:
        if parts[label]:
            cost = f"  {parts[label] * per_op:8.0f} µs" if per_op else ""
            lines.append(f"  {100 * parts[label] / total:5.1f}%{cost}  {label}")
    lines += ["", "inclusive (on the stack):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self (top of the stack):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``: lines differ, functions matter."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{name} ({short})"


def resummarise(name: str) -> None:
    """Rewrite ``<name>.txt`` from ``<name>.collapsed``, keeping its operation count."""
    out_dir = BENCH_DIR / "profiles"
    header = (out_dir / f"{name}.txt").read_text().split("\n", 1)[0]
    words = header.replace(",", "").split()
    operations = int(words[words.index("operations") - 1]) if "operations" in words else 0
    rate = int(words[words.index("samples") + 2].split("/")[0]) if "at" in words else 250
    (out_dir / f"{name}.txt").write_text(summarise(out_dir / f"{name}.collapsed", operations, rate))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("load", choices=["send", "throughput", "fanout", "history", "idle"])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--relay", action="store_true", help="profile the bare relay instead")
    parser.add_argument("--name", default="")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args(argv)
    raise_fd_limit()
    out_dir = BENCH_DIR / "profiles"
    out_dir.mkdir(exist_ok=True)
    name = args.name or f"{args.load}-{'relay' if args.relay else args.database}"
    workspace = Workspace()
    gens: list[LoadGen] = []
    try:
        if args.relay:
            server = workspace.relay(cores=[SERVER_CORE])
            url = f"{server.base_url}/?room=p"
            room_id = "p"
        else:
            server = workspace.chat(workspace.database(args.database), cores=[SERVER_CORE])
            url = server.base_url
        # Accounts: idle connections belong to 50 people, as in scenario 5.
        count = {
            "send": 1,
            "throughput": 10,
            "fanout": args.members + 1,
            "history": 1,
            "idle": 50,
        }[args.load]
        if args.relay:
            accounts = [RelayAccount(server.base_url) for _ in range(count)]
        elif count == 1:
            accounts = [register(server.base_url)]
            room_id = accounts[0].create_room("Profile")
        else:
            accounts = register_many(server.base_url, count)
            room_id = room_of(accounts[0], accounts, "Profile")
        base = {"url": url, "room_id": room_id, "transport": "websocket"}
        if args.load == "history":
            big_room = accounts[0].create_room("History")
            seed.fill(server.database.url, accounts[0].user_id, big_room, 20_000, 1, 20_000)
            gens = [
                LoadGen(
                    {
                        **base,
                        "role": "reader",
                        "cookies": [accounts[0].cookies],
                        "rate": 1,
                        "duration": args.seconds,
                        "http_url": server.base_url,
                        "history_room": big_room,
                        "history_top": 20_000,
                    },
                    CLIENT_CORES,
                )
            ]
        elif args.load == "send":
            gens = [
                LoadGen(
                    {
                        **base,
                        "role": "rtt",
                        "cookies": [accounts[0].cookies],
                        "duration": args.seconds,
                        "samples": 0,
                    },
                    CLIENT_CORES,
                )
            ]
        elif args.load == "throughput":
            gens = [
                LoadGen(
                    {
                        **base,
                        "role": "raw_senders",
                        "duration": args.seconds,
                        "cookies": [a.cookies for a in accounts[i * 5 : i * 5 + 5]],
                    },
                    CLIENT_CORES,
                )
                for i in range(2)
            ]
        elif args.load == "idle":
            gens = [
                LoadGen(
                    {
                        "role": "idle",
                        "url": url,
                        "cookies": [a.cookies for a in accounts],
                        "room": "p" if args.relay else None,
                        "connections": args.members // 2,
                    },
                    CLIENT_CORES,
                )
                for _ in range(2)
            ]
        else:
            members = accounts[1:]
            half = len(members) // 2
            gens = [
                LoadGen(
                    {**base, "role": "members", "cookies": [a.cookies for a in part]}, CLIENT_CORES
                )
                for part in (members[:half], members[half:])
            ]
            gens.append(
                LoadGen(
                    {
                        **base,
                        "role": "pacer",
                        "cookies": [accounts[0].cookies],
                        "rate": 10,
                        "duration": args.seconds,
                    },
                    CLIENT_CORES,
                )
            )
        for gen in gens:
            gen.wait_ready()
        if args.load == "idle":
            # Connected before the samples start: the load is the connections' upkeep.
            for gen in gens:
                gen.tell("GO")
            connected = sum(gen.result()["connected"] for gen in gens)
            time.sleep(2.0)
        collapsed = out_dir / f"{name}.collapsed"
        spy = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(server.worker_pid),
                "--rate",
                str(args.rate),
                "--duration",
                str(int(args.seconds)),
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        if args.load != "idle":
            for gen in gens:
                gen.tell("GO")
        spy.wait(timeout=args.seconds + 60)
        if args.load == "fanout":
            for gen in gens:
                gen.tell("STOP")
        results = [] if args.load == "idle" else [gen.result() for gen in gens]
        if args.load == "fanout":
            operations = sum(result.get("received", 0) for result in results)
        elif args.load == "history":
            operations = sum(result.get("pages", 0) for result in results)
        elif args.load == "idle":
            operations = connected
        else:
            operations = sum(len(result["latencies"]) for result in results)
        summary = summarise(collapsed, operations, args.rate)
        (out_dir / f"{name}.txt").write_text(summary)
        print(summary)
    finally:
        for gen in gens:
            gen.close()
        workspace.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
