"""Messages as JSON, written out by hand for the paths that carry the most of them.

A history page, a catch-up page and every push and acknowledgement of a send turn
messages into JSON. marshmallow's ``MessageSchema`` did it at ~25 µs a message
with its sender nested (40 % of a history page's server time, docs/performance.md);
these functions build the same dicts directly and turn each sender into JSON once
per page. ``MessageSchema`` stays the contract: the API documentation is generated
from it, the single-message HTTP routes still dump with it, and
``tests/test_payloads.py`` holds these functions equal to it field for field.

They take anything with a message's attributes: a ``Message`` or a ``StoredMessage``.
A page is encoded with orjson (``page_response``): the standard library's encoder, with
Flask's sorted keys, took 170 µs for a page of 50, orjson 9 µs.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from flask import Response, current_app


def utc_iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the UTC offset (SQLite hands back naive datetimes; all are UTC).

    A naive one gets the offset as text: a third of the time of making it aware first,
    for every timestamp of every page (docs/performance.md, item 19)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.isoformat() + "+00:00"
    return moment.isoformat()


# An id's text, kept for the ids that recur: a page's room and senders, a room's pushes.
# ``UUID`` is immutable and its text never changes; about 1 MB when full.
id_text = lru_cache(maxsize=4096)(str)


def user_payload(user: Any) -> dict[str, Any]:
    """``UserSchema``'s fields: a user as anyone may see them (never the email)."""
    return {
        "id": id_text(user.id),
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "created_at": utc_iso(user.created_at),
    }


def message_payload(message: Any, senders: dict[Any, dict[str, Any]] | None = None) -> dict:
    """``MessageSchema``'s fields; ``senders`` shares each sender's dict across a page."""
    sender = message.sender
    if sender is None:
        sender_payload = None
    elif senders is None:
        sender_payload = user_payload(sender)
    else:
        sender_payload = senders.get(sender.id)
        if sender_payload is None:
            sender_payload = senders[sender.id] = user_payload(sender)
    sender_id = message.sender_id
    return {
        "id": message.id,
        "room_id": id_text(message.room_id),
        "seq": message.seq,
        "sender_id": None if sender_id is None else id_text(sender_id),
        "body": message.body,
        "client_id": message.client_id,
        "created_at": utc_iso(message.created_at),
        "edited_at": utc_iso(message.edited_at),
        "deleted": message.deleted,
        "change_seq": message.change_seq,
        "mentions": [id_text(user_id) for user_id in message.mentioned_ids],
        "sender": sender_payload,
    }


def message_payloads(messages: list[Any]) -> list[dict[str, Any]]:
    """A page of messages; a sender's dict is built once and shared by their messages."""
    senders: dict[Any, dict[str, Any]] = {}
    return [message_payload(message, senders) for message in messages]


def page_response(body: dict[str, Any]) -> Response:
    """A JSON response for a page of message payloads (plain strings, numbers, lists)."""
    return current_app.response_class(orjson.dumps(body), mimetype="application/json")
