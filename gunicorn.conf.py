"""gunicorn settings: one gevent worker per instance, as Flask-SocketIO requires.

gunicorn balances requests across workers without stickiness, which breaks
long-polling sessions; scale with several instances behind a sticky load
balancer instead (docs/deploy.md). gunicorn sets TCP_NODELAY on its sockets,
which keeps acknowledged sends from waiting on delayed ACKs.

Two additions for running several instances:

- **Graceful shutdown that moves clients.** On SIGTERM gunicorn stops accepting and
  then waits up to ``graceful_timeout`` for open requests, and a WebSocket is an open
  request that never ends by itself. So the worker also drops every socket at the
  transport once its listener is closed (``post_worker_init`` below): clients see a
  lost connection, reconnect through the load balancer to another instance and catch
  up from the database; the worker then exits in a second or two.
- **Structured access log.** With ``LOG_FORMAT=json`` (production's default) each
  request is one JSON object per line (``JsonAccessLogger``); the app's own log,
  including socket connects, disconnects and sends, uses the same format.

This file is read by the master before any fork, so it imports nothing of the app
at module level: the worker must load the app after gevent has patched the
standard library (wsgi.py).
"""

import json
import os
import re
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from gunicorn import glogging

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = 1
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# Long-polling requests are held open by design; a sync-style timeout would kill them.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "10"))
keepalive = 5
# ACCESS_LOG="" turns the access log off.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
LOG_FORMAT = os.environ.get("LOG_FORMAT") or (
    "json" if os.environ.get("CHAT_ENV") == "production" else "text"
)
# Seconds between SIGTERM and dropping the sockets: gunicorn's worker loop closes its
# listener within one second, and a client must not reconnect to this instance.
DRAIN_DELAY = float(os.environ.get("DRAIN_DELAY", "1.2"))
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl):
# several instances on one machine would take it from each other. Nothing here uses it.
control_socket_disable = True


# Engine.IO's session id in a long-polling URL works like a bearer token for that
# connection: it stays out of the log.
_SID_PARAM = re.compile(r"(^|&)sid=[^&]*")
# Lines name their instance as host:pid; the pid is read per line (the worker's, after the fork).
_INSTANCE = socket.gethostname()


class JsonAccessLogger(glogging.Logger):
    """gunicorn's logger, with each access-log line written as one JSON object."""

    def access(self, resp: Any, req: Any, environ: dict, request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "type": "access",
            "remote": environ.get("REMOTE_ADDR"),
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": _SID_PARAM.sub(r"\1sid=-", environ.get("QUERY_STRING") or ""),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "instance": f"{_INSTANCE}:{os.getpid()}",
        }
        try:
            self.access_log.info(json.dumps(entry))
        except Exception:
            self.exception("access log failed")


if LOG_FORMAT == "json":
    logger_class = JsonAccessLogger


def post_worker_init(worker: Any) -> None:
    """Make SIGTERM also move this worker's clients to another instance (see the top)."""
    import gevent

    graceful_exit = worker.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        graceful_exit(sig, frame)
        gevent.spawn(_drain_sockets, worker)

    worker.handle_exit = handle_exit
    # init_signals() bound the original method before this hook ran.
    signal.signal(signal.SIGTERM, handle_exit)


def _drain_sockets(worker: Any) -> None:
    import gevent

    from chat.services import realtime

    gevent.sleep(DRAIN_DELAY)
    started = time.monotonic()
    while True:  # until the worker exits; a straggler that got in is dropped too
        closed = realtime.close_local_sockets()
        if closed:
            worker.log.info(
                "shutdown: dropped %d socket(s) after %.1fs; clients reconnect elsewhere",
                closed,
                DRAIN_DELAY + time.monotonic() - started,
            )
        gevent.sleep(0.5)


def worker_exit(server: Any, worker: Any) -> None:
    """Leave the cross-instance socket index at once (it would expire with the heartbeat)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None) or {}
    registry = extensions.get("chat_socket_registry")
    if registry is not None:
        registry.close()
