"""The benchmark suite behind ``make bench`` (docs/performance.md): not part of ``make test``.

``python -m bench`` starts the real server (gunicorn + gevent, as ``make run`` does)
and the bare relay baseline (``bench/relay.py``), drives both from load-generating
processes (``bench/loadgen.py``), prints a table and writes ``bench/results.json``.
"""
