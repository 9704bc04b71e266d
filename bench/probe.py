"""How long the gevent hub was blocked, measured inside the server (scenario 8), and
the garbage collections that blocked it (scenarios 3 and 8).

A greenlet sleeps 1 ms at a time and records by how much each sleep overran: while
any greenlet runs without yielding (a SQLite query, a big serialisation), the hub
cannot wake the probe, so the overrun is the time the loop was blocked. Overruns of
1 ms or more are appended to a file as ``<unix time> <ms> <busy ms>`` lines, so the
bench can take the maximum over its own measurement window. ``busy`` is the CPU time
the loop's thread used during the overrun: on a machine shared with other work, a
process that waits for a core overruns too, and only the busy part is this server's
own blocking.

gevent's monitor thread (``GEVENT_MONITOR_THREAD_ENABLE``, ``GEVENT_MAX_BLOCKING_TIME``)
is turned on beside it: it does not measure a duration, but for every block longer
than its threshold it prints the blocking greenlet's stack into the server log, which
says *what* blocked.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import gevent

INTERVAL = 0.001
RECORD_FROM = 0.001


def _run(path: str) -> None:
    with open(path, "a", buffering=1) as out:
        while True:
            started, cpu_started = time.perf_counter(), time.thread_time()
            gevent.sleep(INTERVAL)
            overrun = time.perf_counter() - started - INTERVAL
            if overrun >= RECORD_FROM:
                # CPU time of the hub's thread over the same span: what the loop spent
                # running greenlets. The rest of the overrun is the process waiting for
                # a core (other processes on a shared machine), not this server's code.
                busy = time.thread_time() - cpu_started
                out.write(f"{time.time():.6f} {overrun * 1000:.3f} {busy * 1000:.3f}\n")


def start(path: str) -> None:
    gevent.spawn(_run, path)
    watch_gc(path + ".gc")


# What a server's environment names to have this module started in its worker: the loop
# probe's file (its collection log beside it), or a collection log alone.
LOOP_PROBE_ENV = "BENCH_LOOP_PROBE"
GC_LOG_ENV = "BENCH_GC_LOG"


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether a server started with ``environ`` should run ``start_from_environment``."""
    return bool(environ.get(LOOP_PROBE_ENV) or environ.get(GC_LOG_ENV))


def start_from_environment() -> None:
    """In a worker (gunicorn's ``post_worker_init``): the loop probe and its collection
    log if ``BENCH_LOOP_PROBE`` names a file, else the collection log alone if
    ``BENCH_GC_LOG`` does, else nothing."""
    if os.environ.get(LOOP_PROBE_ENV):
        start(os.environ[LOOP_PROBE_ENV])
    elif os.environ.get(GC_LOG_ENV):
        watch_gc(os.environ[GC_LOG_ENV])


def watch_gc(path: str) -> None:
    """Log every garbage collection of 5 ms or more: a full collection of a big heap runs
    wherever an allocation triggers it, and blocks the loop for its whole length."""
    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's lifetime
    started: dict[str, float] = {}

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
            return
        elapsed = time.perf_counter() - started.get("t", time.perf_counter())
        if elapsed >= 0.005:
            out.write(
                f"{time.time():.6f} {elapsed * 1000:.3f} gen{info['generation']} "
                f"collected={info['collected']}\n"
            )

    gc.callbacks.append(callback)


def max_blocked_ms(path: str, since: float, until: float) -> dict[str, float]:
    """Between two unix times: the longest overrun (wall), the most CPU the loop spent in
    one overrun (busy), and how many overruns reached 20 ms of each."""
    found = {"wall": 0.0, "busy": 0.0, "wall_over_20": 0, "busy_over_20": 0}
    for fields in _logged_between(path, since, until):
        wall, busy = float(fields[0]), float(fields[1])
        found["wall"] = max(found["wall"], wall)
        found["busy"] = max(found["busy"], busy)
        found["wall_over_20"] += wall >= 20
        found["busy_over_20"] += busy >= 20
    return found


def gc_pauses(path: str, since: float, until: float) -> dict[str, float]:
    """Between two unix times, from a ``watch_gc`` log: the longest collection (ms), the
    longest full one, and how many took 5 ms or more."""
    found = {"longest_ms": 0.0, "longest_full_ms": 0.0, "over_5ms": 0}
    for elapsed, generation, _collected in _logged_between(path, since, until):
        found["longest_ms"] = max(found["longest_ms"], float(elapsed))
        if generation == "gen2":
            found["longest_full_ms"] = max(found["longest_full_ms"], float(elapsed))
        found["over_5ms"] += 1
    return found


def _logged_between(path: str, since: float, until: float) -> Iterator[list[str]]:
    """The fields after the time stamp of each line of a log of this module logged
    between two unix times; none if nothing was logged (no file)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        stamp, *fields = line.split()
        if since <= float(stamp) <= until:
            yield fields
