"""The message API: history pages and sending over HTTP."""

from __future__ import annotations

import uuid

from flask_login import current_user, login_required
from flask_smorest import Blueprint

from ..schemas import HistoryQuerySchema, MessageListSchema, MessageSchema, PostMessageSchema
from ..services import messages

blp = Blueprint("chat", __name__, url_prefix="/api/rooms", description="Messages")


@blp.get("/<uuid:room_id>/messages")
@login_required
@blp.arguments(HistoryQuerySchema, location="query")
@blp.response(200, MessageListSchema)
def list_messages(query, room_id: uuid.UUID):
    """A page of history in ascending seq: the newest, ``before`` a seq, or ``after`` one."""
    page = messages.history(
        current_user,
        room_id,
        before=query.get("before"),
        after=query.get("after"),
        limit=query["limit"],
    )
    return {"messages": page}


@blp.post("/<uuid:room_id>/messages")
@login_required
@blp.arguments(PostMessageSchema)
@blp.response(201, MessageSchema)
@blp.alt_response(200, schema=MessageSchema, description="A repeated client_id: the stored message")
def post_message(payload, room_id: uuid.UUID):
    """Store and push a message; repeating a ``client_id`` returns the stored one (200)."""
    message, created = messages.post_message(
        current_user, room_id, payload["body"], payload["client_id"]
    )
    return message, 201 if created else 200
