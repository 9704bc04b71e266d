"""The room API: ``/api/rooms``."""

from __future__ import annotations

import uuid

from flask_login import current_user, login_required
from flask_smorest import Blueprint

from ..apidoc import errors
from ..schemas import (
    CreateRoomSchema,
    MarkReadSchema,
    RoomListSchema,
    RoomSchema,
    RoomSettingsSchema,
)
from ..services import reading, rooms
from ..throttling import room_creation

blp = Blueprint("room_api", __name__, url_prefix="/api/rooms", description="Rooms and membership")


@blp.get("")
@login_required
@blp.response(200, RoomListSchema)
@errors(blp, 401)
def list_rooms():
    """The caller's rooms, most recent activity first."""
    return {"rooms": reading.annotate(rooms.list_rooms(current_user), current_user.id)}


@blp.post("")
@room_creation
@login_required
@blp.arguments(CreateRoomSchema())
@blp.response(201, RoomSchema)
@errors(blp, 400, 401, 429, 503)
def create_room(payload):
    """Create a group room with the caller and ``member_ids`` as members."""
    return rooms.create_group_room(current_user, payload["title"], payload["member_ids"])


@blp.get("/<uuid:room_id>")
@login_required
@blp.response(200, RoomSchema)
@errors(blp, 401, 404)
def get_room(room_id: uuid.UUID):
    """One room; 404 unless the caller is a member."""
    return reading.annotate([rooms.get_room(current_user, room_id)], current_user.id)[0]


@blp.post("/<uuid:room_id>/join")
@login_required
@blp.response(200, RoomSchema)
@errors(blp, 400, 401, 404, 503)
def join_room(room_id: uuid.UUID):
    """Join a group room by its id; 404 for unknown and direct rooms."""
    return rooms.join_room(current_user, room_id)


@blp.post("/<uuid:room_id>/leave")
@login_required
@blp.response(204)
@errors(blp, 400, 401, 404, 503)
def leave_room(room_id: uuid.UUID):
    """Leave a group room; its pushes stop at once."""
    rooms.leave_room(current_user, room_id)


@blp.post("/<uuid:room_id>/read")
@login_required
@blp.arguments(MarkReadSchema())
@blp.response(204)
@errors(blp, 400, 401, 404, 503)
def mark_read(payload, room_id: uuid.UUID):
    """Mark the room read up to ``seq`` (never backwards); the caller's other tabs follow."""
    reading.mark_read(current_user, room_id, payload["seq"])


@blp.patch("/<uuid:room_id>/settings")
@login_required
@blp.arguments(RoomSettingsSchema())
@blp.response(200, RoomSchema)
@errors(blp, 400, 401, 404, 503)
def room_settings(payload, room_id: uuid.UUID):
    """The caller's own settings for a room: ``muted`` silences its notifications."""
    reading.set_muted(current_user, room_id, payload["muted"])
    return reading.annotate([rooms.get_room(current_user, room_id)], current_user.id)[0]
