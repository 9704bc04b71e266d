"""Structured logs: one JSON object per line in production, key=value text elsewhere.

Socket traffic does not show in an access log (a WebSocket is one long request), so
the socket handlers log their own events through :func:`event`: connects,
disconnects and sends, with the sid, user, room and message ids and never a message
body or an email. Collectors index the fields; people grep the text.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from . import json_text

events = logging.getLogger("chat.events")

# Set on every record, so that lines from several instances can be told apart.
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"


def event(name: str, **fields: Any) -> None:
    """Log one socket or service event with its ids (never bodies)."""
    events.info(name, extra={"fields": {key: _plain(value) for key, value in fields.items()}})


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "instance", ...fields}`` on one line.

    Written by orjson: one line per send, and the standard library's encoder was a
    third of the line's cost (docs/performance.md, item 27)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "instance": INSTANCE,
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_text.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """The usual text line, with an event's fields appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return line


def configure(level: str, fmt: str) -> None:
    """Send the app's logs to stderr (gunicorn's error log) in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
