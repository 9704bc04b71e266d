"""Socket.IO events of the default namespace.

Handlers are thin: authenticate, validate with the same schemas as HTTP, call
the service, answer through the acknowledgement. Every failure becomes an ack
``{ok: false, error, message}``; nothing reaches the client as a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace
from marshmallow import Schema, ValidationError
from sqlalchemy.exc import OperationalError

from ..database import is_unavailable
from ..errors import ServiceError
from ..extensions import db
from ..schemas import (
    MessageSchema,
    SocketDeleteMessageSchema,
    SocketEditMessageSchema,
    SocketSendMessageSchema,
    SyncSchema,
    validation_message,
)
from ..services import messages, realtime, rooms
from ..services.sessions import current_login_token

log = logging.getLogger(__name__)


def _failure(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message, **extra}


def socket_event(schema: type[Schema]) -> Callable:
    """Validate the payload with ``schema`` and turn every failure into an error ack."""
    loader = schema()

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(self: Namespace, data: Any = None, *_extra: Any) -> dict[str, Any]:
            if not current_user.is_authenticated:
                return _failure("unauthorized", "Log in first.")
            if not isinstance(data, dict):
                return _failure("invalid", "The payload must be an object.")
            try:
                payload = loader.load(data)
                return {"ok": True, **handler(self, payload)}
            except ValidationError as error:
                return _failure("invalid", validation_message(error))
            except ServiceError as error:
                return _failure(error.code, error.message, **error.extra)
            except OperationalError as error:
                db.session.rollback()
                if not is_unavailable(error):
                    log.exception("socket event %s failed", handler.__name__)
                    return _failure("internal", "Something went wrong on our side.")
                return _failure("unavailable", "The database did not answer in time; try again.")
            except Exception:
                log.exception("socket event %s failed", handler.__name__)
                db.session.rollback()
                return _failure("internal", "Something went wrong on our side.")

        return wrapper

    return decorate


class ChatNamespace(Namespace):
    """The default namespace: one socket per browser tab."""

    def on_connect(self, auth: Any = None) -> None:
        # Raising (not returning) ConnectionRefusedError is what refuses the handshake.
        if not current_user.is_authenticated:
            raise ConnectionRefusedError("unauthorized")
        room_ids = rooms.room_ids_of(current_user.id)
        realtime.attach_socket(request.sid, current_user.id, room_ids)
        token = current_login_token()
        if token:
            realtime.attach_session(request.sid, token)

    def on_disconnect(self, reason: Any = None) -> None:
        """Rooms are per connection and vanish with it; nothing to clean up."""

    @socket_event(SocketSendMessageSchema)
    def on_send_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        message, _created = messages.post_message(
            current_user, payload["room_id"], payload["body"], payload["client_id"]
        )
        return {"message": realtime.message_payload(message)}

    @socket_event(SocketEditMessageSchema)
    def on_edit_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        message = messages.edit_message(current_user, payload["message_id"], payload["body"])
        return {"message": realtime.message_payload(message)}

    @socket_event(SocketDeleteMessageSchema)
    def on_delete_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        message = messages.delete_message(current_user, payload["message_id"])
        return {"message": realtime.message_payload(message)}

    @socket_event(SyncSchema)
    def on_sync(self, payload: dict[str, Any]) -> dict[str, Any]:
        """After a reconnect: what changed in each of the client's rooms since its cursor."""
        answer, gone = messages.sync(current_user, payload["rooms"])
        many = MessageSchema(many=True)
        for room in answer.values():
            room["messages"] = many.dump(room["messages"])
        return {"rooms": answer, "gone": gone}
