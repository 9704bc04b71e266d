"""Request and response schemas: one declaration per body, shared by HTTP and sockets.

The HTTP routes use them through flask-smorest (which also builds the OpenAPI
document); the socket handlers call ``load`` on the same classes, so a payload
is judged by the same rules whichever way it arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context
from flask_login import current_user
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from .text import NOT_TEXT, is_storable_text

CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MESSAGE_MAX_LENGTH = 4000
TITLE_MAX_LENGTH = 100
DISPLAY_NAME_MAX_LENGTH = 50
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` and nothing else, as the OpenAPI document says.

    marshmallow's Boolean also takes 1, 0, "yes", "on" and the like (and a truthy set
    cannot exclude 1, which equals True): a client sending those is mistaken.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class _StorableText:
    """Refuses what ``chat/text.py`` says the database cannot store (NUL, unpaired
    surrogates), as a validation error like any other."""

    default_error_messages = {"not_text": NOT_TEXT}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]
        if not is_storable_text(text):
            raise self.make_error("not_text")  # type: ignore[attr-defined]
        return text


class Text(_StorableText, fields.String):
    """A string a person wrote (a body, a title, a name, a password, a query)."""


class EmailText(_StorableText, fields.Email):
    """An email address a person wrote."""


class UTCDateTime(fields.DateTime):
    """SQLite hands back naive datetimes; every stored time is UTC, so say so."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


_viewer: ContextVar[uuid.UUID | None] = ContextVar("chat_room_viewer", default=None)


@contextmanager
def viewing_as(user_id: uuid.UUID) -> Iterator[None]:
    """Dump rooms as ``user_id`` sees them (a push to another member, say)."""
    token = _viewer.set(user_id)
    try:
        yield
    finally:
        _viewer.reset(token)


def _current_viewer() -> uuid.UUID | None:
    """Whoever ``viewing_as`` names, else the user of the current request or socket event."""
    viewer = _viewer.get()
    if viewer is None and has_request_context() and current_user.is_authenticated:
        viewer = current_user.id
    return viewer


class RoomTitle(fields.String):
    """A room's title for its viewer: a direct room is named after the other member."""

    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        title_for = getattr(obj, "title_for", None)
        if not callable(title_for):
            return super().serialize(attr, obj, accessor, **kwargs)
        return self._serialize(title_for(_current_viewer()), attr, obj, **kwargs)


def _strip_strings(data: Any, names: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        data = dict(data)
        for name in names:
            if isinstance(data.get(name), str):
                data[name] = data[name].strip()
    return data


# ---- requests ---------------------------------------------------------------


class RegisterSchema(Schema):
    email = EmailText(required=True, validate=validate.Length(max=254))
    password = Text(
        required=True, validate=validate.Length(PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH)
    )
    display_name = Text(required=True, validate=validate.Length(1, DISPLAY_NAME_MAX_LENGTH))

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data, ("email", "display_name"))


class LoginSchema(Schema):
    email = Text(required=True, validate=validate.Length(1, 254))
    password = Text(required=True, validate=validate.Length(1, PASSWORD_MAX_LENGTH))
    remember = StrictBoolean(load_default=False)

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data, ("email",))


class ChangePasswordSchema(Schema):
    """``POST /api/me/password``: the current password, and the new one (not trimmed)."""

    current_password = Text(required=True, validate=validate.Length(1, PASSWORD_MAX_LENGTH))
    new_password = Text(
        required=True, validate=validate.Length(PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH)
    )


class CreateRoomSchema(Schema):
    title = Text(required=True, validate=validate.Length(1, TITLE_MAX_LENGTH))
    member_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=500))

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data, ("title",))


class HistoryQuerySchema(Schema):
    before = fields.Integer(validate=validate.Range(min=1))
    after = fields.Integer(validate=validate.Range(min=0))
    around = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))

    @validates_schema
    def _one_anchor(self, data: dict[str, Any], **_: Any) -> None:
        if "around" in data and ("before" in data or "after" in data):
            raise ValidationError("around cannot be combined with before or after.", "around")


class SearchQuerySchema(Schema):
    q = Text(required=True, validate=validate.Length(1, 200))
    room_id = fields.UUID()
    before = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 50))

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(dict(data), ("q",)) if hasattr(data, "keys") else data


class RoomSettingsSchema(Schema):
    muted = StrictBoolean(required=True)


class PostMessageSchema(Schema):
    body = Text(required=True, validate=validate.Length(1, MESSAGE_MAX_LENGTH))
    client_id = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            CLIENT_ID_PATTERN, error="client_id must be 1-64 of A-Z a-z 0-9 _ -"
        ),
    )

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data, ("body",))


class SocketSendMessageSchema(PostMessageSchema):
    room_id = fields.UUID(required=True)


class EditMessageSchema(Schema):
    body = Text(required=True, validate=validate.Length(1, MESSAGE_MAX_LENGTH))

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data, ("body",))


class SocketEditMessageSchema(EditMessageSchema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class SocketDeleteMessageSchema(Schema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class UpdateMeSchema(Schema):
    """``PATCH /api/me``: the display name (trimmed; any script; no control characters)."""

    display_name = Text(required=True, validate=validate.Length(1, DISPLAY_NAME_MAX_LENGTH))

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data, ("display_name",))


class AvatarUploadSchema(Schema):
    """``POST /api/me/avatar``: one multipart file field, ``avatar``."""

    avatar = Upload(required=True)


class UserQuerySchema(Schema):
    q = Text(load_default="", validate=validate.Length(max=DISPLAY_NAME_MAX_LENGTH))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = Text(load_default=None, validate=validate.Length(max=2000))


class OpenDirectRoomSchema(Schema):
    user_id = fields.UUID(required=True)


class ChangesQuerySchema(Schema):
    since = fields.Integer(required=True, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=200, validate=validate.Range(1, 500))


class MarkReadSchema(Schema):
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class SocketMarkReadSchema(MarkReadSchema):
    room_id = fields.UUID(required=True)


class SocketTypingSchema(Schema):
    room_id = fields.UUID(required=True)


class SyncSchema(Schema):
    """``{rooms: {room_id: last_change}}``: the client's catch-up cursors after a reconnect."""

    rooms = fields.Dict(
        keys=fields.UUID(),
        values=fields.Integer(strict=True, validate=validate.Range(min=0)),
        required=True,
        validate=validate.Length(max=500),
    )


# ---- responses ---------------------------------------------------------------


class UserSchema(Schema):
    """A user as anyone may see them: never their email."""

    id = fields.UUID(required=True)
    display_name = fields.String(required=True)
    avatar_url = fields.String(required=True)
    created_at = UTCDateTime(required=True)


class PersonSchema(UserSchema):
    """A user in the directory or on a profile page: also whether they are online now."""

    online = fields.Boolean(required=True)


class PersonPageSchema(Schema):
    users = fields.List(fields.Nested(PersonSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class MeSchema(UserSchema):
    """The signed-in user looking at themselves."""

    email = fields.String(required=True)


class RoomSchema(Schema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True)
    title = RoomTitle(required=True)
    created_at = UTCDateTime(required=True)
    last_seq = fields.Integer(required=True)
    last_change = fields.Integer(required=True)
    last_activity_at = UTCDateTime(required=True)
    members = fields.List(fields.Nested(UserSchema), required=True, attribute="member_users")
    # Per viewer (services/reading.annotate); a room just created or joined has read all.
    unread_count = fields.Integer(dump_default=0)
    mention_count = fields.Integer(dump_default=0)
    muted = fields.Boolean(dump_default=False)
    last_read_seq = fields.Integer()
    last_message = fields.Nested(lambda: MessageSchema(), allow_none=True, dump_default=None)


class RoomListSchema(Schema):
    rooms = fields.List(fields.Nested(RoomSchema), required=True)


class MessageSchema(Schema):
    id = fields.Integer(required=True)
    room_id = fields.UUID(required=True)
    seq = fields.Integer(required=True)
    sender_id = fields.UUID(required=True, allow_none=True)
    body = fields.String(required=True)
    client_id = fields.String(required=True, allow_none=True)
    created_at = UTCDateTime(required=True)
    edited_at = UTCDateTime(required=True, allow_none=True)
    deleted = fields.Boolean(required=True)
    change_seq = fields.Integer(required=True)
    mentions = fields.List(fields.UUID(), required=True, attribute="mentioned_ids")
    sender = fields.Nested(UserSchema, required=True, allow_none=True)


class MessageListSchema(Schema):
    messages = fields.List(fields.Nested(MessageSchema), required=True)


class ChangesSchema(Schema):
    messages = fields.List(fields.Nested(MessageSchema), required=True)
    last_change = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class CsrfSchema(Schema):
    csrf_token = fields.String(required=True)


class ErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.Dict()
    retry_after = fields.Integer()


def validation_message(error: ValidationError) -> str:
    """Flatten marshmallow's nested messages into one readable sentence."""
    messages = error.normalized_messages()
    if not isinstance(messages, dict):
        return str(messages)
    parts = []
    for field, problems in sorted(messages.items(), key=lambda item: str(item[0])):
        text = "; ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
        parts.append(f"{field}: {text}")
    return " | ".join(parts) or "invalid input"


class HighlightSchema(Schema):
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)


class RoomRefSchema(Schema):
    """A room named in a search result: enough to show it and link to it."""

    id = fields.UUID(required=True)
    kind = fields.String(required=True)
    title = RoomTitle(required=True)


class SearchResultSchema(Schema):
    message = fields.Nested(MessageSchema, required=True)
    room = fields.Nested(RoomRefSchema, required=True)
    highlights = fields.List(fields.Nested(HighlightSchema), required=True)


class SearchResultsSchema(Schema):
    results = fields.List(fields.Nested(SearchResultSchema), required=True)
    next_cursor = fields.Integer(required=True, allow_none=True)
