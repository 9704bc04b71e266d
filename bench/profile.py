"""Profile the server's hot paths with py-spy: ``python -m bench.profile send|fanout|history``.

Starts the chat server (as the bench does), drives one load for ``--seconds`` while
``py-spy record`` samples the gevent worker, and writes the collapsed stacks plus a
summary (``bench/profiles/<name>.txt``): the functions with the most samples on the
stack (inclusive) and at the top of it (self). docs/performance.md quotes these.

- ``send``: one websocket client sending acknowledged messages back to back (scenario 1).
- ``throughput``: 10 senders in a room of 10 (scenario 2).
- ``fanout``: a room of ``--members`` receivers, 10 messages/s (scenario 3).
- ``history``: history pages of a 20,000-message room in a loop (scenario 6).
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


def summarise(collapsed: Path, top: int = 40) -> str:
    """Inclusive and self sample shares per function from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_short(frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive (on the stack):"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("load", choices=["send", "throughput", "fanout", "history"])
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
        count = {"send": 1, "throughput": 10, "fanout": args.members + 1, "history": 1}[args.load]
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
                        "role": "senders",
                        "duration": args.seconds,
                        "cookies": [a.cookies for a in accounts[i * 5 : i * 5 + 5]],
                    },
                    CLIENT_CORES,
                )
                for i in range(2)
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
        for gen in gens:
            gen.tell("GO")
        spy.wait(timeout=args.seconds + 60)
        if args.load == "fanout":
            for gen in gens:
                gen.tell("STOP")
        for gen in gens:
            gen.result()
        summary = summarise(collapsed)
        (out_dir / f"{name}.txt").write_text(summary)
        print(summary)
    finally:
        for gen in gens:
            gen.close()
        workspace.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
