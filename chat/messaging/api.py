"""The message API: history pages, catch-up, sending, editing and deleting over HTTP."""

from __future__ import annotations

import uuid

from flask_login import current_user, login_required
from flask_smorest import Blueprint

from ..apidoc import errors
from ..payloads import message_payloads, page_response
from ..schemas import (
    ChangesQuerySchema,
    ChangesSchema,
    EditMessageSchema,
    HistoryQuerySchema,
    MessageListSchema,
    MessageSchema,
    PostMessageSchema,
    SearchQuerySchema,
    SearchResultsSchema,
)
from ..services import messages, search

blp = Blueprint("chat", __name__, url_prefix="/api", description="Messages")


@blp.get("/rooms/<uuid:room_id>/messages")
@login_required
@blp.arguments(HistoryQuerySchema(), location="query")
@blp.response(200, MessageListSchema)
@errors(blp, 400, 401, 404)
def list_messages(query, room_id: uuid.UUID):
    """A page of history in ascending seq: the newest, ``before`` a seq, or ``after`` one."""
    page = messages.history(
        current_user,
        room_id,
        before=query.get("before"),
        after=query.get("after"),
        around=query.get("around"),
        limit=query["limit"],
    )
    # Written out by chat/payloads.py (held equal to MessageListSchema by the tests):
    # a Response is sent as it is, the schema above documents it.
    return page_response({"messages": message_payloads(page)})


@blp.get("/search")
@login_required
@blp.arguments(SearchQuerySchema(), location="query")
@blp.response(200, SearchResultsSchema)
def search_messages(query):
    """Messages matching words, newest first, in the rooms the caller belongs to now."""
    hits, next_cursor = search.search(
        current_user,
        query["q"],
        room_id=query.get("room_id"),
        before=query.get("before"),
        limit=query["limit"],
    )
    return {"results": hits, "next_cursor": next_cursor}


@blp.get("/rooms/<uuid:room_id>/changes")
@login_required
@blp.arguments(ChangesQuerySchema(), location="query")
@blp.response(200, ChangesSchema)
@errors(blp, 400, 401, 404)
def list_changes(query, room_id: uuid.UUID):
    """Messages inserted, edited or deleted after change ``since``: the catch-up feed."""
    changes = messages.changes_since(current_user, room_id, query["since"], query["limit"])
    return page_response({**changes, "messages": message_payloads(changes["messages"])})


@blp.post("/rooms/<uuid:room_id>/messages")
@login_required
@blp.arguments(PostMessageSchema())
@blp.response(201, MessageSchema)
@blp.alt_response(200, schema=MessageSchema, description="A repeated client_id: the stored message")
@errors(blp, 400, 401, 404, 409, 429, 503)
def post_message(payload, room_id: uuid.UUID):
    """Store and push a message; repeating a ``client_id`` returns the stored one (200)."""
    message, created = messages.post_message(
        current_user, room_id, payload["body"], payload["client_id"]
    )
    return message, 201 if created else 200


@blp.patch("/messages/<int:message_id>")
@login_required
@blp.arguments(EditMessageSchema())
@blp.response(200, MessageSchema)
@errors(blp, 400, 401, 403, 404, 503)
def edit_message(payload, message_id: int):
    """Edit one's own message (403 for other members, 404 for non-members)."""
    return messages.edit_message(current_user, message_id, payload["body"])


@blp.delete("/messages/<int:message_id>")
@login_required
@blp.response(200, MessageSchema)
@errors(blp, 400, 401, 403, 404, 503)
def delete_message(message_id: int):
    """Delete one's own message; a marker without its body stays in the history."""
    return messages.delete_message(current_user, message_id)
