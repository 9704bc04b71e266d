"""Rate limits that belong to a rule of the service rather than to one HTTP route.

Flask-Limiter's decorators count the requests of a route (logins per address, say:
see ``chat/throttling.py``). Sending messages is different: the same person can send
over HTTP and over the socket, and a limit kept by only one of the two paths would
be a limit on nothing. So ``messages.post_message`` calls ``consume`` here, and both
paths spend one budget per user.

The counters are Flask-Limiter's own (its storage and strategy: memory, or Redis
when ``REDIS_URL`` is set, moving window by default), so the decorators and this
module share one configuration and one store.
"""

from __future__ import annotations

import math
import time
import uuid
from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse_many

from ..errors import ServiceError
from ..extensions import limiter
from . import realtime

# Rule name -> config key holding its limit string ("N per period; M per period").
RULES = {
    "messages": "RATELIMIT_MESSAGES_PER_USER",
}


class RateLimited(ServiceError):
    """Too many attempts: 429, with ``retry_after`` (seconds) for the client."""

    status = 429
    code = "rate_limited"


class TooManyConnections(ServiceError):
    """One more socket than ``SOCKETS_PER_USER_MAX``: the handshake is refused."""

    status = 429
    code = "too_many_connections"


def enabled() -> bool:
    """Whether limits apply (tests that are not about limits turn them off)."""
    return bool(current_app.config.get("RATELIMIT_ENABLED")) and limiter.enabled


@lru_cache(maxsize=64)
def _items(limit_string: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit_string))


def rule_items(rule: str) -> tuple[RateLimitItem, ...]:
    return _items(current_app.config[RULES[rule]])


def consume(rule: str, subject: uuid.UUID | str) -> None:
    """Spend one attempt of ``rule`` for ``subject``, or raise ``RateLimited``.

    Every limit of the rule is tested before any is hit, so that a refused attempt
    spends nothing (a client waiting ``retry_after`` then gets through).
    """
    if not enabled():
        return
    strategy = limiter.limiter
    # Namespaced like Flask-Limiter's own keys, so a shared Redis keeps apps apart.
    identifiers = (current_app.config.get("RATELIMIT_KEY_PREFIX", ""), rule, str(subject))
    items = rule_items(rule)
    for item in items:
        if not strategy.test(item, *identifiers):
            reset_at = strategy.get_window_stats(item, *identifiers).reset_time
            retry_after = min(max(1, math.ceil(reset_at - time.time())), item.get_expiry())
            raise RateLimited(
                f"Too many messages; try again in {retry_after} s.", retry_after=retry_after
            )
    for item in items:
        strategy.hit(item, *identifiers)


def check_socket_capacity(user_id: uuid.UUID) -> None:
    """Refuse one more socket for a user who already has ``SOCKETS_PER_USER_MAX`` open.

    Counted on this instance (the sockets in ``user:<id>``): a cap on what one
    account can hold open here, not a global count across instances.
    """
    limit = int(current_app.config["SOCKETS_PER_USER_MAX"])
    if realtime.socket_count(user_id) >= limit:
        raise TooManyConnections(
            f"At most {limit} connections per user; close a tab or another device first.",
            limit=limit,
        )
