"""The scenarios of issue 8, each against the chat server and the bare relay in the same run.

Every scenario starts its own servers on a fresh database, so that one cannot warm or
slow another, and records rows: one figure each, with its relay baseline, the ratio
and the target where the issue sets one (``Row``).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
import socketio
from engineio.payload import Payload

from . import probe, seed
from .harness import (
    Account,
    LoadGen,
    RelayAccount,
    percentile,
    register,
    register_many,
    room_of,
    run_loadgens,
    summary,
)
from .servers import (
    CLIENT_CORES,
    REDIS_URL,
    SERVER_CORE,
    Server,
    Workspace,
    postgres_available,
    redis_available,
)

Payload.max_decode_packets = 4096


@dataclass
class Sizes:
    """Scenario sizes: the quick profile by default, the issue's own with ``--full``."""

    rtt_samples: int = 500
    throughput_seconds: float = 8
    fanout_members: int = 200
    fanout_processes: int = 2
    fanout_seconds: float = 8
    idle_connections: int = 2000
    idle_processes: int = 2
    history_messages: int = 100_000
    history_rooms: int = 100
    history_big_room: int = 20_000
    health_seconds: float = 8
    multi_samples: int = 300

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            rtt_samples=2000,
            throughput_seconds=20,
            fanout_members=1000,
            fanout_processes=4,
            fanout_seconds=20,
            idle_connections=10_000,
            idle_processes=4,
            history_messages=1_000_000,
            history_rooms=1000,
            history_big_room=200_000,
            health_seconds=20,
            multi_samples=1000,
        )


@dataclass
class Row:
    scenario: str
    metric: str
    variant: str
    value: float | None
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Context:
    workspace: Workspace
    sizes: Sizes
    databases: list[str]
    transports: list[str]
    pin: bool = True
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    relay_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def server_cores(self) -> list[int] | None:
        return [SERVER_CORE] if self.pin else None

    @property
    def client_cores(self) -> list[int] | None:
        return CLIENT_CORES if self.pin else None

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(
            f"  {row.scenario} | {row.metric} [{row.variant}]: {fmt(row.value)} {row.unit}"
            + (f" (relay {fmt(row.baseline)})" if row.baseline is not None else "")
            + (f" target {row.target} {'met' if row.met else 'MISSED'}" if row.target else ""),
            flush=True,
        )
        return row


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def at_most(limit: float) -> Callable[[float | None], bool | None]:
    return lambda value: None if value is None else value <= limit


def at_least(limit: float) -> Callable[[float | None], bool | None]:
    return lambda value: None if value is None else value >= limit


def judged(row: Row, check: Callable[[float | None], bool | None] | None) -> Row:
    if check is not None:
        row.met = check(row.value)
    return row


# ---- helpers ------------------------------------------------------------------------


def relay_url(server: Server, room: str) -> str:
    return f"{server.base_url}/?room={room}"


def rtt_run(
    ctx: Context,
    server: Server,
    url: str,
    cookies: dict[str, str],
    room_id: str,
    transport: str,
    samples: int,
    **extra: Any,
) -> tuple[dict[str, Any], float]:
    """One client, sequential acked sends: the latencies and the server's CPU µs per send."""
    spec = {
        "role": "rtt",
        "url": url,
        "cookies": [cookies],
        "room_id": room_id,
        "transport": transport,
        "samples": samples,
        **extra,
    }
    (result,), cpu, _wall = run_loadgens([spec], server.cpu_seconds, ctx.client_cores)
    count = len(result["latencies"]) + result["errors"]
    return result, cpu / max(count, 1) * 1e6


# ---- 1. send round trip (and 4a: long-polling round trip) ---------------------------


def send_round_trip(ctx: Context) -> None:
    print("scenario 1/4a: send round trip", flush=True)
    samples = ctx.sizes.rtt_samples
    relay = ctx.workspace.relay(cores=ctx.server_cores)
    baseline: dict[str, tuple[dict, float]] = {}
    for transport in ctx.transports:
        baseline[transport] = rtt_run(
            ctx, relay, relay_url(relay, "rtt"), {}, "rtt", transport, samples
        )
    ctx.workspace.stop(relay)
    ctx.relay_cache["rtt"] = baseline
    for kind in ctx.databases:
        chat = ctx.workspace.chat(ctx.workspace.database(kind), cores=ctx.server_cores)
        owner = register(chat.base_url)
        room_id = owner.create_room("Round trip")
        for transport in ctx.transports:
            result, cpu_us = rtt_run(
                ctx, chat, chat.base_url, owner.cookies, room_id, transport, samples
            )
            stats = summary(result["latencies"])
            base, base_cpu = baseline[transport]
            base_stats = summary(base["latencies"])
            variant = f"{transport}, {kind}"
            scenario = "1 send round trip" if transport == "websocket" else "4 long-polling"
            p50_target = (1.0, "≤ 1.0") if transport == "websocket" else (2.0, "≤ 2")
            ctx.add(
                judged(
                    Row(
                        scenario,
                        "send→ack p50",
                        variant,
                        stats["p50"],
                        "ms",
                        base_stats["p50"],
                        p50_target[1],
                    ),
                    at_most(p50_target[0]),
                )
            )
            p99 = Row(scenario, "send→ack p99", variant, stats["p99"], "ms", base_stats["p99"])
            if transport == "websocket":
                p99 = judged(Row(**{**asdict(p99), "target": "≤ 3"}), at_most(3.0))
            ctx.add(p99)
            ctx.add(
                Row(
                    scenario,
                    "server CPU per acked send",
                    variant,
                    cpu_us,
                    "µs",
                    base_cpu,
                    notes=f"{stats['n']} samples, {result['errors']} errors",
                )
            )
        ctx.workspace.stop(chat)


# ---- 2. stored throughput and cost --------------------------------------------------


def throughput(ctx: Context) -> None:
    print("scenario 2: stored throughput, 10 senders in a room of 10", flush=True)
    seconds = ctx.sizes.throughput_seconds
    senders = 10
    processes = 2

    def measure(server: Server, url: str, accounts: list[Account], room_id: str) -> dict:
        per = senders // processes
        specs = [
            {
                "role": "senders",
                "url": url,
                "cookies": [account.cookies for account in accounts[i * per : (i + 1) * per]],
                "room_id": room_id,
                "transport": "websocket",
                "duration": seconds,
            }
            for i in range(processes)
        ]
        results, cpu, wall = run_loadgens(specs, server.cpu_seconds, ctx.client_cores)
        latencies = [value for result in results for value in result["latencies"]]
        stored = len(latencies)
        return {
            "rate": stored / wall,
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "cpu_us": cpu / max(stored, 1) * 1e6,
            "server_cpu_share": cpu / wall,
            "client_cpu_share": sum(result["cpu"] for result in results) / wall,
            "errors": sum(result["errors"] for result in results),
            "received": sum(result["received"] for result in results),
        }

    relay = ctx.workspace.relay(cores=ctx.server_cores)
    relay_accounts = [RelayAccount(relay.base_url) for _ in range(senders)]
    base = measure(relay, relay_url(relay, "tp"), relay_accounts, "tp")
    ctx.workspace.stop(relay)
    ctx.relay_cache["throughput"] = base
    for kind in ctx.databases:
        chat = ctx.workspace.chat(ctx.workspace.database(kind), cores=ctx.server_cores)
        accounts = register_many(chat.base_url, senders)
        room_id = room_of(accounts[0], accounts, "Throughput")
        got = measure(chat, chat.base_url, accounts, room_id)
        ctx.workspace.stop(chat)
        notes = (
            f"server CPU {got['server_cpu_share']:.0%} of a core, load generators "
            f"{got['client_cpu_share']:.0%}; {got['errors']} errors"
        )
        ctx.extra[f"throughput_{kind}"] = got
        ctx.add(
            judged(
                Row(
                    "2 stored throughput",
                    "stored messages/s (10 senders)",
                    kind,
                    got["rate"],
                    "msg/s",
                    base["rate"],
                    "≥ 1,000 at p99 < 50 ms",
                    notes=notes,
                ),
                lambda value, got=got: value is not None and value >= 1000 and got["p99"] < 50,
            )
        )
        ctx.add(
            Row(
                "2 stored throughput",
                "send→ack p50 / p99",
                kind,
                got["p99"],
                "ms",
                base["p99"],
                notes=f"p50 {fmt(got['p50'])} ms (relay {fmt(base['p50'])})",
            )
        )
        ctx.add(
            judged(
                Row(
                    "2 stored throughput",
                    "server CPU per stored message",
                    kind,
                    got["cpu_us"],
                    "µs",
                    base["cpu_us"],
                    "≤ 400",
                ),
                at_most(400),
            )
        )


# ---- 4b. long-polling: HTTP requests per delivered message --------------------------


class CountingSession(requests.Session):
    """A requests session that counts the HTTP requests a polling client makes."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.lock:
            self.count += 1
        return super().request(*args, **kwargs)


class RawPoller:
    """An Engine.IO polling client by hand: it polls only when told, so messages can queue."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        self.http = requests.Session()
        self.http.cookies.update(cookies)
        base, _, query = url.partition("?")
        self.url = (
            base.rstrip("/")
            + "/socket.io/?EIO=4&transport=polling"
            + (f"&{query}" if query else "")
        )
        opened = self.http.get(self.url, timeout=10).text
        sid = re.search(r'"sid":"([^"]+)"', opened).group(1)  # type: ignore[union-attr]
        self.url += f"&sid={sid}"
        self.http.post(self.url, data="40", timeout=10).raise_for_status()
        self.requests = 0
        self.poll()  # the namespace's connect answer ("40{...}")

    def poll(self) -> list[str]:
        self.requests += 1
        return self.http.get(self.url, timeout=30).text.split("\x1e")

    def close(self) -> None:
        try:
            self.http.post(self.url, data="1", timeout=5)
        finally:
            self.http.close()


def polling_batching(ctx: Context) -> None:
    print("scenario 4b: long-polling requests per delivered message", flush=True)
    rounds = 20

    def measure(url: str, sender_cookies: dict, receiver_cookies: dict, room_id: str) -> dict:
        http = requests.Session()
        http.cookies.update(sender_cookies)
        sender = socketio.Client(http_session=http, reconnection=False)
        sender.connect(url, transports=["websocket"], wait_timeout=10)
        # (a) ten messages queued while the receiver is not polling: one poll takes all.
        poller = RawPoller(url, receiver_cookies)
        queued_requests = 0
        delivered = 0
        for _ in range(rounds):
            for _ in range(10):
                sender.call(
                    "send_message",
                    {"room_id": room_id, "body": "q " + "x" * 10, "client_id": uuid.uuid4().hex},
                    timeout=10,
                )
            got = 0
            before = poller.requests
            while got < 10:
                got += sum(1 for packet in poller.poll() if packet.startswith('42["message"'))
            queued_requests += poller.requests - before
            delivered += got
        poller.close()
        # (b) a live python-socketio polling client while ten are sent in a burst.
        counting = CountingSession()
        counting.cookies.update(receiver_cookies)
        receiver = socketio.Client(http_session=counting, reconnection=False)
        received = threading.Semaphore(0)
        receiver.on("message", lambda data: received.release())
        receiver.connect(url, transports=["polling"], wait_timeout=10)
        time.sleep(0.3)
        live_requests = 0
        live_delivered = 0
        for _ in range(rounds):
            start = counting.count
            for _ in range(10):
                sender.emit(
                    "send_message",
                    {"room_id": room_id, "body": "b " + "x" * 10, "client_id": uuid.uuid4().hex},
                )
            for _ in range(10):
                if not received.acquire(timeout=10):
                    raise RuntimeError("a burst message did not arrive")
            live_delivered += 10
            time.sleep(0.05)  # the next poll is out; it is part of this burst's cost
            live_requests += counting.count - start
        receiver.disconnect()
        sender.disconnect()
        return {
            "queued": queued_requests / delivered,
            "live": live_requests / live_delivered,
        }

    relay = ctx.workspace.relay(cores=ctx.server_cores)
    base = measure(relay_url(relay, "poll"), {}, {}, "poll")
    ctx.workspace.stop(relay)
    for kind in ctx.databases:
        chat = ctx.workspace.chat(ctx.workspace.database(kind), cores=ctx.server_cores)
        sender, receiver = register(chat.base_url), register(chat.base_url)
        room_id = room_of(sender, [receiver], "Polling")
        got = measure(chat.base_url, sender.cookies, receiver.cookies, room_id)
        ctx.workspace.stop(chat)
        ctx.add(
            judged(
                Row(
                    "4 long-polling",
                    "HTTP requests per message, 10 queued",
                    kind,
                    got["queued"],
                    "req/msg",
                    base["queued"],
                    "≤ 0.2",
                ),
                at_most(0.2),
            )
        )
        ctx.add(
            Row(
                "4 long-polling",
                "HTTP requests per message, burst of 10 while polling",
                kind,
                got["live"],
                "req/msg",
                base["live"],
                notes="python-socketio client; includes the sends' own wake-ups",
            )
        )


SCENARIOS: dict[str, Callable[[Context], None]] = {
    "1": send_round_trip,
    "2": throughput,
    "4": polling_batching,
}


def available(ctx: Context) -> dict[str, bool]:
    return {"postgres": postgres_available(), "redis": redis_available()}


__all__ = [
    "REDIS_URL",
    "SCENARIOS",
    "Context",
    "LoadGen",
    "Row",
    "Sizes",
    "available",
    "probe",
    "seed",
]
