"""gunicorn settings for the bare relay: the chat's own server settings, minus the app's hooks.

One gevent worker, like ``gunicorn.conf.py``; gunicorn sets ``TCP_NODELAY``.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5001')}"
worker_class = "gevent"
workers = 1
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "20000"))
timeout = 60
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
control_socket_disable = True

if os.environ.get("BENCH_LOOP_PROBE") or os.environ.get("BENCH_GC_LOG"):

    def post_worker_init(worker: object) -> None:
        from bench.probe import start_from_environment

        start_from_environment()
