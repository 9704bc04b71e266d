"""``GET /_test/slow-query?seconds=N``: one request that holds a PostgreSQL query for N seconds.

It exists for one test (tests/test_production.py): while this request waits on
``pg_sleep``, another client's message must still be delivered at once, which proves
that psycopg yields to other greenlets instead of blocking the gevent hub. Registered
only when ``TESTING_SLOW_QUERY_ROUTE`` is on (``ServerProcess`` sets it through the
environment for that test's server); ``create_app`` refuses to build a production app
with it, since it would let anyone tie up database connections.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from .extensions import db

bp = Blueprint("testing_routes", __name__, url_prefix="/_test")


@bp.get("/slow-query")
def slow_query() -> ResponseReturnValue:
    seconds = min(float(request.args.get("seconds", "2")), 10.0)
    db.session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
    db.session.rollback()
    return jsonify({"slept": seconds})


def init_app(app: Flask) -> None:
    if not app.config.get("TESTING_SLOW_QUERY_ROUTE"):
        return
    if app.config.get("REQUIRE_SECRET_KEY"):
        raise RuntimeError("TESTING_SLOW_QUERY_ROUTE must never be set in production")
    app.register_blueprint(bp)
