"""``GET /healthz``: whether this instance can serve, for load balancers and orchestrators.

It answers 200 only when the database answers a query and Redis (when configured)
answers a ping, and 503 naming the one that failed otherwise, so that a balancer
takes an instance out of rotation when *its* backends are unreachable and puts it
back when they return; no restart is needed either way. It needs no login and reveals
nothing but those states and which instance answered (to tell instances apart behind
a balancer).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from .database import DATABASE_ERRORS, rollback_quietly
from .extensions import db
from .logs import INSTANCE
from .services import socket_registry

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def database_state() -> str:
    """ "ok" when a query answers; bounded by DB_CONNECT_TIMEOUT while PostgreSQL is down."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return "ok"
    except DATABASE_ERRORS as error:
        rollback_quietly()
        log.warning("health: database unavailable: %s", error)
        return "unavailable"


def redis_state() -> str:
    """ "ok", "disabled" (no REDIS_URL: one instance, nothing shared) or "unavailable"."""
    try:
        return socket_registry.current().health()
    except Exception as error:
        log.warning("health: redis unavailable: %s", error)
        return "unavailable"


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    states = {"database": database_state(), "redis": redis_state()}
    failed = [name for name, state in states.items() if state == "unavailable"]
    body: dict[str, str] = {**states, "instance": INSTANCE}
    status = 200
    if failed:
        status = 503
        body = {
            "error": "unavailable",
            "message": " and ".join(failed) + " did not answer.",
            **body,
        }
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
