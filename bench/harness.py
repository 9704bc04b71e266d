"""What the scenarios share: accounts made over HTTP, load-generator processes, statistics."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from .servers import PROJECT_DIR, pin_to

PASSWORD = "a long enough password"


# ---- statistics ---------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: p99 of 2,000 samples is the 1,980th)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


# ---- accounts over the HTTP API -----------------------------------------------------


@dataclass
class Account:
    """A registered user: their session cookies and id."""

    base_url: str
    cookies: dict[str, str]
    user_id: str
    csrf: str

    def session(self) -> requests.Session:
        http = requests.Session()
        http.cookies.update(self.cookies)
        http.headers["X-CSRFToken"] = self.csrf
        return http

    def create_room(self, title: str, member_ids: list[str] | None = None) -> str:
        with self.session() as http:
            response = http.post(
                f"{self.base_url}/api/rooms",
                json={"title": title, "member_ids": member_ids or []},
                timeout=60,
            )
        response.raise_for_status()
        return response.json()["id"]

    def join(self, room_id: str) -> None:
        with self.session() as http:
            response = http.post(f"{self.base_url}/api/rooms/{room_id}/join", timeout=60)
        response.raise_for_status()


def register(base_url: str, name: str = "Bench") -> Account:
    http = requests.Session()
    csrf = http.get(f"{base_url}/api/csrf", timeout=30).json()["csrf_token"]
    http.headers["X-CSRFToken"] = csrf
    response = http.post(
        f"{base_url}/api/auth/register",
        json={
            "email": f"bench-{uuid.uuid4().hex[:12]}@example.org",
            "password": PASSWORD,
            "display_name": name,
        },
        timeout=60,
    )
    response.raise_for_status()
    account = Account(base_url, http.cookies.get_dict(), response.json()["id"], csrf)
    http.close()
    return account


def register_many(base_url: str, count: int, threads: int = 8) -> list[Account]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda i: register(base_url, f"Bench {i}"), range(count)))


def room_of(owner: Account, members: list[Account], title: str = "Bench room") -> str:
    """A group room holding ``owner`` and ``members`` (created with up to 500, then joins)."""
    ids = [member.user_id for member in members if member.user_id != owner.user_id]
    room_id = owner.create_room(title, ids[:500])
    rest = [member for member in members if member.user_id in set(ids[500:])]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda member: member.join(room_id), rest))
    return room_id


class RelayAccount(Account):
    """The relay has no accounts: an empty cookie jar that speaks the same interface."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, {}, "relay", "")


# ---- load-generator processes -------------------------------------------------------


class LoadGen:
    """One ``python -m bench.loadgen`` process, driven by lines on its stdin and stdout."""

    def __init__(self, spec: dict[str, Any], cores: list[int] | None = None) -> None:
        self.spec = spec
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=pin_to(cores),
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(spec) + "\n")
        self.process.stdin.flush()
        self.ready_line = ""

    def _line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            line = self.process.stdout.readline()
            if line:
                return line.rstrip("\n")
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"load generator {self.spec['role']} ended without answering")

    def wait_ready(self, timeout: float = 600) -> str:
        line = self._line(timeout)
        if line.startswith("RESULT"):
            raise RuntimeError(f"load generator failed: {line}")
        if not line.startswith("READY"):
            raise RuntimeError(f"unexpected line from load generator: {line!r}")
        self.ready_line = line
        return line

    def tell(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def result(self, timeout: float = 600) -> dict[str, Any]:
        while True:
            line = self._line(timeout)
            if line.startswith("RESULT "):
                data = json.loads(line[len("RESULT ") :])
                if "error" in data:
                    raise RuntimeError(f"load generator {self.spec['role']}: {data['error']}")
                return data

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.tell("STOP")
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_quiet(server_cpu: Any, share: float = 0.05, timeout: float = 180.0) -> float:
    """Wait until the server uses less than ``share`` of a core over half a second.

    Connecting many members sets off work that outlives the handshakes (each first
    socket of a user tells the room it came online: n² presence events for n members);
    a measurement that started during it would time that instead. Returns the wait.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = server_cpu()
        time.sleep(0.5)
        if server_cpu() - before < share * 0.5:
            break
    return time.perf_counter() - started


def run_loadgens(
    specs: list[dict[str, Any]],
    server_cpu: Any,
    cores: list[int] | None = None,
    stop_after: float | None = None,
) -> tuple[list[dict[str, Any]], float, float]:
    """Start the processes, wait until all are ready, GO, collect results.

    Returns the results, the server's CPU seconds over the window (GO to the last
    result) and the window's wall time. With ``stop_after`` the processes are told
    STOP after that many seconds (roles that run until told).
    """
    gens = [LoadGen(spec, cores) for spec in specs]
    try:
        for gen in gens:
            gen.wait_ready()
        wait_quiet(server_cpu)
        cpu0, wall0 = server_cpu(), time.perf_counter()
        for gen in gens:
            gen.tell("GO")
        if stop_after is not None:
            time.sleep(stop_after)
            for gen in gens:
                gen.tell("STOP")
        results = [gen.result() for gen in gens]
        cpu, wall = server_cpu() - cpu0, time.perf_counter() - wall0
    finally:
        for gen in gens:
            gen.close()
    return results, cpu, wall
