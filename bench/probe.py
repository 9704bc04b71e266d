"""How long the gevent hub was blocked, measured inside the server (scenario 8).

A greenlet sleeps 1 ms at a time and records by how much each sleep overran: while
any greenlet runs without yielding (a SQLite query, a big serialisation), the hub
cannot wake the probe, so the overrun is the time the loop was blocked. Overruns of
1 ms or more are appended to a file as ``<unix time> <ms>`` lines, so the bench can
take the maximum over its own measurement window.

gevent's monitor thread (``GEVENT_MONITOR_THREAD_ENABLE``, ``GEVENT_MAX_BLOCKING_TIME``)
is turned on beside it: it does not measure a duration, but for every block longer
than its threshold it prints the blocking greenlet's stack into the server log, which
says *what* blocked.
"""

from __future__ import annotations

import time
from pathlib import Path

import gevent

INTERVAL = 0.001
RECORD_FROM = 0.001


def _run(path: str) -> None:
    with open(path, "a", buffering=1) as out:
        while True:
            started = time.perf_counter()
            gevent.sleep(INTERVAL)
            overrun = time.perf_counter() - started - INTERVAL
            if overrun >= RECORD_FROM:
                out.write(f"{time.time():.6f} {overrun * 1000:.3f}\n")


def start(path: str) -> None:
    gevent.spawn(_run, path)


def max_blocked_ms(path: str, since: float, until: float) -> tuple[float, int]:
    """The longest overrun between two unix times, and how many were 20 ms or more."""
    longest = 0.0
    over_20 = 0
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return 0.0, 0
    for line in lines:
        stamp, ms = line.split()
        if since <= float(stamp) <= until:
            longest = max(longest, float(ms))
            over_20 += float(ms) >= 20
    return longest, over_20
