"""JSON text written by orjson, with the standard library's encoder as the fallback.

The chat writes JSON on its hot paths (every Socket.IO packet it sends, every log
line): orjson does it several times faster than ``json`` (docs/performance.md, items
24 and 27). What orjson refuses to write and ``json`` writes, a lone surrogate (which
``json`` escapes) or an int beyond 64 bits, goes to ``json`` instead of failing: a
packet or a log line must not be lost for it. Both write compact JSON; keys that are
not strings are written as strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson


def dumps(data: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``data`` as compact JSON text; ``default`` turns what neither knows into JSON."""
    try:
        return orjson.dumps(data, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(data, default=default, separators=(",", ":"))
