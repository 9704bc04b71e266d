"""The entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``).

gevent must patch the standard library before anything imports ``socket``,
``ssl`` or ``threading``, so it comes first; psycopg 3 cooperates with a
patched interpreter by itself.
"""

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402

from chat import create_app, sqlite_checkpoints  # noqa: E402

# Young collections after 50,000 new objects rather than 700 (docs/performance.md,
# item 17). What a socket has in flight (queued packets, frames being written) used to
# survive the frequent young collections into the old generation, and that set off a
# full collection every few seconds: 100-175 ms of a held event loop with a thousand
# sockets open, a second with ten thousand. Given longer, those objects die first by
# reference counting. Safe because the hot paths leave (next to) no cyclic garbage
# for the young collections to free (chat/socket_sessions.py, the shared argument
# schemas): with that garbage, each of these collections took up to 85 ms. Measured
# on CPython 3.11; its collector's generations are not the same in every release,
# so a new CPython is worth measuring again (python -m bench --only 3,8).
GC_YOUNG_THRESHOLD = 50_000

app = create_app()
# SQLite's WAL checkpoints in the background, not in a send's commit (item 22).
sqlite_checkpoints.start(app)
# What start-up built (modules, mappers, schemas: most of the heap) lives as long as the
# process. Frozen, it is left out of every full garbage collection, which otherwise
# walked it all and held the event loop for ~80 ms each time (docs/performance.md).
# Its garbage is collected first, so that none of it is kept for good.
gc.collect()
gc.freeze()
gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
