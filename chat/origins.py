"""Which browser origins may open a socket: the app's own, plus ``ALLOWED_ORIGINS``.

python-engineio treats a list of origins as the whole allow-list, which would
shut out the app's own pages the moment an extra origin is configured; a
callable lets the configured origins be added to same-origin instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _own_origins(environ: dict[str, Any]) -> set[str]:
    origins = set()
    host = environ.get("HTTP_HOST")
    scheme = environ.get("wsgi.url_scheme", "http")
    if host:
        origins.add(f"{scheme}://{host}")
    forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host or "").split(",")[0].strip()
    forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
    if forwarded_host:
        origins.add(f"{forwarded_proto}://{forwarded_host}")
    return origins


def origin_check(extra_origins: list[str]) -> Callable[[str | None, dict[str, Any]], bool] | None:
    """The ``cors_allowed_origins`` value for Flask-SocketIO (None: same origin only)."""
    if not extra_origins:
        return None
    allowed = {origin.rstrip("/") for origin in extra_origins}

    def is_allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        return origin is None or origin in allowed or origin in _own_origins(environ)

    return is_allowed
