"""Settings for each way the app runs, read from environment variables.

Everything a deployment changes comes from the environment so that the same
code runs as the embedded default (SQLite under ``instance/``) and in
production (PostgreSQL + Redis) without edits.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [item.strip() for item in raw.split(",") if item.strip()]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Defaults shared by every environment."""

    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'chat.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # How long a SQLite writer waits for the lock before the send fails with 503.
    SQLITE_BUSY_TIMEOUT_MS = _env_int("SQLITE_BUSY_TIMEOUT_MS", 5000)
    # A serving process checkpoints SQLite's WAL in the background this often, instead
    # of in a writer's commit (chat/sqlite_checkpoints.py); 0 leaves it to SQLite.
    SQLITE_CHECKPOINT_INTERVAL_MS = _env_int("SQLITE_CHECKPOINT_INTERVAL_MS", 100)
    # PostgreSQL pool, per instance (one gevent worker): a request or socket event holds a
    # connection only for its transaction; past size + overflow, callers wait up to the
    # pool timeout and then get 503. The connect timeout bounds a call while PostgreSQL is
    # down or unreachable, so that it fails (503) instead of hanging.
    DB_POOL_SIZE = _env_int("DB_POOL_SIZE", 10)
    DB_MAX_OVERFLOW = _env_int("DB_MAX_OVERFLOW", 20)
    DB_POOL_TIMEOUT = _env_int("DB_POOL_TIMEOUT", 10)
    DB_CONNECT_TIMEOUT = _env_int("DB_CONNECT_TIMEOUT", 5)

    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Prefix of this deployment's Redis keys and Socket.IO channel: deployments (or test
    # runs) sharing one Redis stay apart.
    REDIS_NAMESPACE = os.environ.get("REDIS_NAMESPACE") or "chat"
    # An instance that stops renewing its heartbeat for this long counts as dead: its
    # sockets stop counting for presence and membership changes (services/socket_registry).
    PRESENCE_TTL_SECONDS = _env_int("PRESENCE_TTL_SECONDS", 15)
    # Presence changes are told in batches, one event per this many seconds at most
    # (services/presence.py): one packet per socket and batch instead of one per change.
    PRESENCE_BATCH_SECONDS = _env_float("PRESENCE_BATCH_SECONDS", 0.5)
    # GET /_test/slow-query (chat/testing_routes.py): a test proves that a slow query does
    # not stall other greenlets. Production refuses to start with it.
    TESTING_SLOW_QUERY_ROUTE = _env_bool("TESTING_SLOW_QUERY_ROUTE", False)
    # "json" (one object per line, for log collectors) or "text"; production defaults to json.
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "text"
    # How many reverse proxies (nginx, a cloud balancer) sit in front and set
    # X-Forwarded-For/-Proto/-Host: the app then sees the client's address (rate limits)
    # and scheme (the socket Origin check, secure cookies). 0 = trust no such header.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    # Origins allowed to open a socket besides the app's own; empty = same origin only.
    SOCKETIO_ALLOWED_ORIGINS = _env_list("ALLOWED_ORIGINS")
    SOCKETIO_ASYNC_MODE = os.environ.get("SOCKETIO_ASYNC_MODE") or None
    SOCKETIO_MAX_HTTP_BUFFER_SIZE = _env_int("SOCKETIO_MAX_HTTP_BUFFER_SIZE", 64 * 1024)
    ENGINEIO_MAX_DECODE_PACKETS = _env_int("ENGINEIO_MAX_DECODE_PACKETS", 256)
    # Engine.IO heartbeat (python-engineio's defaults): a client silent for interval +
    # timeout seconds is dropped, and with it whatever its session held.
    SOCKETIO_PING_INTERVAL = _env_int("SOCKETIO_PING_INTERVAL", 25)
    SOCKETIO_PING_TIMEOUT = _env_int("SOCKETIO_PING_TIMEOUT", 20)

    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 6 * 1024 * 1024)

    # Avatars: stored re-encoded under UPLOAD_FOLDER (relative paths are taken from the
    # instance folder). The byte limit sits below MAX_CONTENT_LENGTH so that an oversized
    # photo gets the avatar's own 413, and the pixel limit refuses decompression bombs
    # before they are decoded (Pillow alone only warns below 2 x 89 megapixels).
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or str(INSTANCE_DIR / "uploads")
    AVATAR_MAX_BYTES = _env_int("AVATAR_MAX_BYTES", 5 * 1024 * 1024)
    AVATAR_MAX_PIXELS = _env_int("AVATAR_MAX_PIXELS", 50_000_000)
    AVATAR_SIZE = _env_int("AVATAR_SIZE", 256)
    MESSAGE_MAX_LENGTH = 4000

    # argon2id parameters: above the OWASP minimum (m=19 MiB, t=2).
    PASSWORD_HASH_TIME_COST = _env_int("PASSWORD_HASH_TIME_COST", 2)
    PASSWORD_HASH_MEMORY_KIB = _env_int("PASSWORD_HASH_MEMORY_KIB", 19 * 1024)
    PASSWORD_HASH_PARALLELISM = _env_int("PASSWORD_HASH_PARALLELISM", 1)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    # The JSON API is protected by the X-CSRFToken header, the forms by a field.
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_SSL_STRICT = _env_bool("WTF_CSRF_SSL_STRICT", True)

    API_TITLE = "Chat API"
    API_VERSION = "1.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"

    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    # Rate limits (Flask-Limiter; docs: "N per period", several joined by ";"). The
    # counters live in Redis when REDIS_URL is set, so that every instance shares them.
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = (
        os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("REDIS_URL") or "memory://"
    )
    # A moving window has no burst at the window's edge (a fixed window allows 2x there).
    RATELIMIT_STRATEGY = os.environ.get("RATELIMIT_STRATEGY", "moving-window")
    RATELIMIT_KEY_PREFIX = "chat"
    RATELIMIT_HEADERS_ENABLED = False
    # Every attempt from one address, and the failed ones against one account.
    RATELIMIT_LOGIN_PER_ADDRESS = os.environ.get(
        "RATELIMIT_LOGIN_PER_ADDRESS", "20 per minute; 100 per hour"
    )
    RATELIMIT_LOGIN_PER_ACCOUNT = os.environ.get("RATELIMIT_LOGIN_PER_ACCOUNT", "10 per 15 minutes")
    RATELIMIT_REGISTER_PER_ADDRESS = os.environ.get("RATELIMIT_REGISTER_PER_ADDRESS", "10 per hour")
    RATELIMIT_ROOMS_PER_USER = os.environ.get("RATELIMIT_ROOMS_PER_USER", "30 per hour")
    RATELIMIT_AVATARS_PER_USER = os.environ.get("RATELIMIT_AVATARS_PER_USER", "20 per hour")
    # One budget for sends over HTTP and over the socket (services/ratelimits.py).
    RATELIMIT_MESSAGES_PER_USER = os.environ.get(
        "RATELIMIT_MESSAGES_PER_USER", "30 per 10 seconds; 600 per 10 minutes"
    )
    # Open sockets per user on one instance: tabs and devices; one more is refused.
    SOCKETS_PER_USER_MAX = _env_int("SOCKETS_PER_USER_MAX", 20)

    # Security headers (chat/security.py); HSTS only where HTTPS is certain.
    SECURITY_HSTS = _env_bool("SECURITY_HSTS", False)
    SECURITY_HSTS_MAX_AGE = _env_int("SECURITY_HSTS_MAX_AGE", 365 * 24 * 3600)
    # /_test/stats (greenlets, RSS) for the abuse tests; production refuses to start with it.
    CHAT_TEST_ENDPOINTS = _env_bool("CHAT_TEST_ENDPOINTS", False)


class DevelopmentConfig(Config):
    """The embedded default: one process, SQLite, a generated secret kept on disk."""

    DEBUG = False


class TestingConfig(Config):
    """In-process tests: a cheaper hash keeps the suite fast; the real cost is tested apart."""

    TESTING = True
    # Each test names its own database; TEST_DATABASE_URL is the PostgreSQL server the
    # tests create theirs on (tests/postgres_support.py), never a database to use as is.
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_KIB = 8
    SOCKETIO_ASYNC_MODE = "threading"
    SECRET_KEY = "testing-secret"
    # Tests create many users, rooms and messages from one address; the rate-limit
    # tests turn the limits on for themselves.
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", False)
    RATELIMIT_STORAGE_URI = "memory://"


class ProductionConfig(Config):
    """PostgreSQL, Redis and HTTPS: every secret must come from the environment."""

    REQUIRE_SECRET_KEY = True

    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURITY_HSTS = _env_bool("SECURITY_HSTS", True)
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "json"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None) -> type[Config]:
    """Pick the settings class named by ``name`` or by ``CHAT_ENV``."""
    name = name or os.environ.get("CHAT_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown CHAT_ENV {name!r}; expected one of {sorted(CONFIGS)}") from None
