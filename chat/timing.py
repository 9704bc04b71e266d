"""``Server-Timing: app;dur=<ms>`` on every HTTP response: the server's own time for it.

The benchmark (``make bench``, docs/performance.md) reads it to tell the server's
time for a history page apart from the client's and the network's; browsers show it
in their developer tools. It costs two clock reads per request and says nothing
secret (no query, no size, only the total), so it stays on in production.

The clock starts in the first ``before_request`` hook and stops in the last
``after_request`` hook, so it covers the other hooks and the view (queries,
serialisation); not the WSGI server's own parsing and writing.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g


def init_app(app: Flask) -> None:
    # First in both lists: before_request hooks run in order, after_request hooks in
    # reverse, so this one starts before every other hook and stops after them all.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.after_request_funcs.setdefault(None, []).insert(0, _add_header)


def _start_clock() -> None:
    g.chat_request_started = time.perf_counter()


def _add_header(response: Response) -> Response:
    started = g.get("chat_request_started")
    if started is not None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers.add("Server-Timing", f"app;dur={elapsed_ms:.3f}")
    return response
