"""The room API: ``/api/rooms``."""

from __future__ import annotations

import uuid

from flask_login import current_user, login_required
from flask_smorest import Blueprint

from ..schemas import CreateRoomSchema, RoomListSchema, RoomSchema
from ..services import rooms

blp = Blueprint("room_api", __name__, url_prefix="/api/rooms", description="Rooms and membership")


@blp.get("")
@login_required
@blp.response(200, RoomListSchema)
def list_rooms():
    """The caller's rooms, most recent activity first."""
    return {"rooms": rooms.list_rooms(current_user)}


@blp.post("")
@login_required
@blp.arguments(CreateRoomSchema)
@blp.response(201, RoomSchema)
def create_room(payload):
    """Create a group room with the caller and ``member_ids`` as members."""
    return rooms.create_group_room(current_user, payload["title"], payload["member_ids"])


@blp.get("/<uuid:room_id>")
@login_required
@blp.response(200, RoomSchema)
def get_room(room_id: uuid.UUID):
    """One room; 404 unless the caller is a member."""
    return rooms.get_room(current_user, room_id)


@blp.post("/<uuid:room_id>/join")
@login_required
@blp.response(200, RoomSchema)
def join_room(room_id: uuid.UUID):
    """Join a group room by its id; 404 for unknown and direct rooms."""
    return rooms.join_room(current_user, room_id)


@blp.post("/<uuid:room_id>/leave")
@login_required
@blp.response(204)
def leave_room(room_id: uuid.UUID):
    """Leave a group room; its pushes stop at once."""
    rooms.leave_room(current_user, room_id)
