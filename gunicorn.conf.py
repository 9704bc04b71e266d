"""gunicorn settings: one gevent worker per instance, as Flask-SocketIO requires.

gunicorn balances requests across workers without stickiness, which breaks
long-polling sessions; scale with several instances behind a sticky load
balancer instead (README, Deployment). gunicorn sets TCP_NODELAY on its sockets,
which keeps acknowledged sends from waiting on delayed ACKs.
"""

import os

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
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl):
# several instances on one machine would take it from each other. Nothing here uses it.
control_socket_disable = True
