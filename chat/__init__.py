"""The chat service: ``create_app`` builds the Flask app with its extensions and blueprints."""

from __future__ import annotations

import secrets
from pathlib import Path

from engineio.payload import Payload
from flask import Flask

from config import INSTANCE_DIR, config_for

from .extensions import csrf, db, login_manager, migrate, openapi, socketio
from .origins import origin_check
from .socket_packets import ChatPacket
from .socket_sessions import SocketAwareFlask, SocketAwareSessionInterface

PROJECT_DIR = Path(__file__).resolve().parent.parent


def create_app(config_name: str | None = None, **overrides: object) -> Flask:
    """Build the app for one environment (``development``, ``testing``, ``production``).

    ``overrides`` win over the settings class: tests use them to point the app
    at their own database.
    """
    app = SocketAwareFlask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        instance_relative_config=True,
        template_folder=str(PROJECT_DIR / "templates"),
        static_folder=str(PROJECT_DIR / "static"),
    )
    app.config.from_object(config_for(config_name))
    app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _ensure_secret_key(app)
    _configure_logging(app)
    _configure_pool(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_DIR / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    app.session_interface = SocketAwareSessionInterface()
    openapi.init_app(app)
    # A long-polling POST batches whatever the client queued (an outbox flushed after
    # a reconnect, say); engine.io refuses more than 16 packets in one payload by
    # default (python-engineio #142). The byte size stays capped by max_http_buffer_size.
    Payload.max_decode_packets = app.config["ENGINEIO_MAX_DECODE_PACKETS"]
    from .services import messages, presence, socket_registry

    socket_registry.init_app(app)
    presence.init_app(app)
    messages.init_app(app)
    socketio.init_app(
        app,
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        # With REDIS_URL: python-socketio's Redis manager (emits and room changes reach
        # every instance); without: the local manager of the single-process default.
        client_manager=socket_registry.message_queue(app),
        cors_allowed_origins=origin_check(app.config["SOCKETIO_ALLOWED_ORIGINS"]),
        max_http_buffer_size=app.config["SOCKETIO_MAX_HTTP_BUFFER_SIZE"],
        ping_interval=app.config["SOCKETIO_PING_INTERVAL"],
        ping_timeout=app.config["SOCKETIO_PING_TIMEOUT"],
        # Sessions are read from the cookie at connect; logout disconnects sockets.
        manage_session=True,
        # Packets without the search for binary data the chat never sends, by orjson.
        serializer=ChatPacket,
    )
    if app.config["TRUSTED_PROXIES"]:
        # Outermost, so that Engine.IO's Origin check sees the client's scheme and host too.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    with app.app_context():
        from .database import configure_engine

        configure_engine(app)

    from . import (
        auth,
        health,
        messaging,
        people,
        room,
        security,
        test_endpoints,
        testing_routes,
        throttling,
        timing,
    )
    from .http import register_http_handlers

    auth.init_app(app)
    room.init_app(app)
    messaging.init_app(app)
    people.init_app(app)
    register_http_handlers(app)
    # After the generic handlers: its 429 handler is the more specific one.
    throttling.init_app(app)
    security.init_app(app)
    timing.init_app(app)  # Server-Timing header (docs/performance.md)
    test_endpoints.init_app(app)
    health.init_app(app)
    testing_routes.init_app(app)
    return app


def _ensure_secret_key(app: Flask) -> None:
    """Production must set SECRET_KEY; the embedded default keeps a generated one on disk."""
    if app.config.get("SECRET_KEY"):
        return
    if app.config.get("REQUIRE_SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set in production")
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _configure_pool(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if not uri.startswith("sqlite"):
        # A server's connections can die under the pool (a restart, a failover): each one
        # is checked at checkout (chat/pool_liveness.py, cheaper than pool_pre_ping). A
        # SQLite file cannot go away like that.
        options.setdefault("pool_size", app.config["DB_POOL_SIZE"])
        options.setdefault("max_overflow", app.config["DB_MAX_OVERFLOW"])
        options.setdefault("pool_timeout", app.config["DB_POOL_TIMEOUT"])
        if uri.startswith("postgresql"):
            # libpq's own connect timeout: while PostgreSQL is unreachable a request
            # fails with 503 within it instead of hanging (the checkout check reconnects).
            connect_args = dict(options.get("connect_args") or {})
            connect_args.setdefault("connect_timeout", app.config["DB_CONNECT_TIMEOUT"])
            options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        from .logs import configure

        configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
