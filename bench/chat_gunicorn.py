"""gunicorn settings for the chat under scenarios 3 and 8: ``gunicorn.conf.py`` plus
the loop probe (``BENCH_LOOP_PROBE``) or the garbage collector's log alone (``BENCH_GC_LOG``).

Everything of the production settings is kept (they are read from the file itself);
only ``post_worker_init`` is extended to start :mod:`bench.probe` in the worker.
"""

import runpy
from pathlib import Path

_settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
globals().update({name: value for name, value in _settings.items() if not name.startswith("__")})
_chat_post_worker_init = _settings["post_worker_init"]


def post_worker_init(worker: object) -> None:
    _chat_post_worker_init(worker)
    from bench.probe import start_from_environment

    start_from_environment()
