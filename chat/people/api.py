"""The people API: one's own profile, the directory, and opening direct rooms."""

from __future__ import annotations

import uuid

from flask import request
from flask_login import current_user, login_required
from flask_smorest import Blueprint

from ..apidoc import errors
from ..errors import Invalid
from ..schemas import (
    AvatarUploadSchema,
    MeSchema,
    OpenDirectRoomSchema,
    PersonPageSchema,
    PersonSchema,
    RoomSchema,
    UpdateMeSchema,
    UserQuerySchema,
)
from ..services import directory, profiles, rooms
from ..throttling import avatar_uploads

blp = Blueprint(
    "people_api", __name__, url_prefix="/api", description="Profiles, directory, direct rooms"
)


@blp.patch("/me")
@login_required
@blp.arguments(UpdateMeSchema())
@blp.response(200, MeSchema)
@errors(blp, 400, 401, 503)
def update_me(payload):
    """Change one's display name; members of shared rooms get ``user_updated``."""
    return profiles.rename(current_user._get_current_object(), payload["display_name"])


@blp.post("/me/avatar")
@avatar_uploads
@login_required
@blp.arguments(AvatarUploadSchema(), location="files")
@blp.response(200, MeSchema)
@errors(blp, 400, 401, 413, 429, 503)
def upload_avatar(files):
    """Upload a PNG, JPEG, GIF or WebP (at most 5 MB) as one's avatar.

    400 for anything that is not a whole image or has too many pixels, 413 past
    5 MB; the old avatar stays then.
    """
    if request.form:
        # The file is the whole body: other fields are refused, as unknown JSON fields are.
        raise Invalid("Unknown field(s): " + ", ".join(sorted(request.form)))
    return profiles.set_avatar(current_user._get_current_object(), files["avatar"].stream)


@blp.delete("/me/avatar")
@login_required
@blp.response(200, MeSchema)
@errors(blp, 400, 401, 503)
def delete_avatar():
    """Go back to the generated initials avatar."""
    return profiles.remove_avatar(current_user._get_current_object())


@blp.get("/users")
@login_required
@blp.arguments(UserQuerySchema(), location="query")
@blp.response(200, PersonPageSchema)
@errors(blp, 400, 401)
def list_users(query):
    """The directory: people whose name starts with or contains ``q``, in cursor pages."""
    people, next_cursor = directory.search(query["q"], query["limit"], query["cursor"])
    return {"users": people, "next_cursor": next_cursor}


@blp.get("/users/<uuid:user_id>")
@login_required
@blp.response(200, PersonSchema)
@errors(blp, 401, 404)
def get_user(user_id: uuid.UUID):
    """One person (never their email); 404 if there is no such user."""
    return profiles.get_person(user_id)


@blp.post("/rooms/direct")
@login_required
@blp.arguments(OpenDirectRoomSchema())
@blp.response(201, RoomSchema)
@blp.alt_response(200, schema=RoomSchema, description="The pair's existing room")
@errors(blp, 400, 401, 404, 503)
def open_direct_room(payload):
    """Open the 1:1 room with ``user_id``: 201 when created, 200 with the same room after.

    400 for oneself (no notes-to-self room), 404 for an unknown user.
    """
    room, created = rooms.open_direct_room(current_user, payload["user_id"])
    return room, 201 if created else 200
