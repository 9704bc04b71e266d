"""The entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``).

gevent must patch the standard library before anything imports ``socket``,
``ssl`` or ``threading``, so it comes first; psycopg 3 cooperates with a
patched interpreter by itself.
"""

from gevent import monkey

monkey.patch_all()

from chat import create_app  # noqa: E402

app = create_app()
