"""The entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``).

gevent must patch the standard library before anything imports ``socket``,
``ssl`` or ``threading``, so it comes first; psycopg 3 cooperates with a
patched interpreter by itself.
"""

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402

from chat import create_app  # noqa: E402

app = create_app()
# What start-up built (modules, mappers, schemas: most of the heap) lives as long as the
# process. Frozen, it is left out of every full garbage collection, which otherwise
# walked it all and held the event loop for ~80 ms each time (docs/performance.md).
gc.freeze()
