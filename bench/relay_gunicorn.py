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


def post_worker_init(worker: object) -> None:
    # The loop probe or the collection log, if the bench asked for one (bench/probe.py).
    from bench.probe import start_from_environment

    start_from_environment()
