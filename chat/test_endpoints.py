"""``GET /_test/stats``: what the abuse tests measure inside the server process.

Registered only when ``CHAT_TEST_ENDPOINTS`` is on (``tests/support.ServerProcess``
turns it on for the real test server); ``create_app`` refuses to build a production
app with it. It reports counts, never data: live greenlets (a handshake flood that
leaks one per attempt shows here), resident memory, open file descriptors, the
Engine.IO sessions the server holds, and the garbage collector's settings and
totals (what only the cyclic collector could free: docs/performance.md, item 17).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from .extensions import csrf, socketio

bp = Blueprint("test_endpoints", __name__, url_prefix="/_test")


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _greenlets() -> int:
    try:
        from greenlet import greenlet
    except ImportError:  # pragma: no cover - greenlet ships with gevent
        return 0
    # type(), not isinstance(): a werkzeug LocalProxy answers isinstance by its target.
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), greenlet))


def stats() -> dict[str, Any]:
    gc.collect()  # finished greenlets and closed sessions are garbage, not load
    engineio = getattr(socketio.server, "eio", None)
    return {
        "greenlets": _greenlets(),
        "rss_kib": _rss_kib(),
        "open_fds": len(os.listdir("/proc/self/fd")),
        "engineio_sessions": len(getattr(engineio, "sockets", {}) or {}),
        # Objects freed as cyclic garbage since the worker started, this collection's included.
        "gc_collected": sum(generation["collected"] for generation in gc.get_stats()),
        "gc_thresholds": list(gc.get_threshold()),
        "gc_frozen": gc.get_freeze_count(),
    }


@bp.get("/stats")
def stats_view() -> ResponseReturnValue:
    return jsonify(stats())


def init_app(app: Flask) -> None:
    if not app.config.get("CHAT_TEST_ENDPOINTS"):
        return
    if app.config.get("REQUIRE_SECRET_KEY"):
        raise RuntimeError("CHAT_TEST_ENDPOINTS must never be set in production")
    csrf.exempt(bp)
    app.register_blueprint(bp)
