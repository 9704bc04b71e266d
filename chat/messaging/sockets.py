"""Socket.IO events of the default namespace.

Handlers are thin: authenticate, validate with the same schemas as HTTP, call
the service, answer through the acknowledgement. Every failure becomes an ack
``{ok: false, error, message}``; nothing reaches the client as a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, NoReturn

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace
from marshmallow import Schema, ValidationError

from .. import logs, read_requests
from ..database import DATABASE_ERRORS, DatabaseError, is_unavailable, rollback_quietly
from ..errors import ServiceError
from ..extensions import db
from ..models import User
from ..payloads import message_payload, message_payloads
from ..schemas import (
    SocketDeleteMessageSchema,
    SocketEditMessageSchema,
    SocketMarkReadSchema,
    SocketSendMessageSchema,
    SocketTypingSchema,
    SyncSchema,
    validation_message,
)
from ..services import connections, messages, presence, ratelimits, reading, realtime
from ..services.sessions import current_login_token

log = logging.getLogger(__name__)


def _failure(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message, **extra}


def socket_event(schema: type[Schema], reads_only: bool = False) -> Callable:
    """Validate the payload with ``schema`` and turn every failure into an error ack.

    The handler is called with the signed-in user and the loaded payload. An event
    that ``reads_only`` reads outside a transaction on PostgreSQL (chat/read_requests.py).
    """
    loader = schema()

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(self: Namespace, data: Any = None, *_extra: Any) -> dict[str, Any]:
            if reads_only:
                read_requests.read_outside_a_transaction()
            try:
                # Inside the try: loading the user is a query, and it is the first to fail
                # while the database is down (the client must get "unavailable", not silence).
                # The user itself, not the proxy, goes to the handler: each attribute read
                # through ``current_user`` looks it up again (16 times per send).
                user = current_user._get_current_object()
                if not user.is_authenticated:
                    return _failure("unauthorized", "Log in first.")
                if not isinstance(data, dict):
                    return _failure("invalid", "The payload must be an object.")
                payload = loader.load(data)
                return {"ok": True, **handler(self, user, payload)}
            except ValidationError as error:
                return _failure("invalid", validation_message(error))
            except ServiceError as error:
                return _failure(error.code, error.message, **error.extra)
            except DATABASE_ERRORS as error:
                rollback_quietly()
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


def _refuse_unavailable(error: DatabaseError) -> NoReturn:
    """A handshake that cannot read the database is refused with "unavailable" (retry)."""
    rollback_quietly()
    if not is_unavailable(error):
        raise error
    log.warning("socket refused, database unavailable: %s", error)
    raise ConnectionRefusedError("unavailable")


class ChatNamespace(Namespace):
    """The default namespace: one socket per browser tab."""

    def on_connect(self, auth: Any = None) -> None:
        # It only reads (the user, the rooms): outside a transaction on PostgreSQL.
        read_requests.read_outside_a_transaction()
        # Raising (not returning) ConnectionRefusedError is what refuses the handshake.
        try:
            authenticated = current_user.is_authenticated
        except DATABASE_ERRORS as error:
            _refuse_unavailable(error)
        if not authenticated:
            realtime.close_refused_connection(request.sid)
            raise ConnectionRefusedError("unauthorized")
        # Checked next to the attach, with no I/O between them: under gevent nothing
        # else runs in between, so concurrent handshakes cannot all slip under the cap.
        try:
            ratelimits.check_socket_capacity(current_user.id)
        except ratelimits.TooManyConnections as refused:
            realtime.close_refused_connection(request.sid)
            raise ConnectionRefusedError(refused.code, refused.to_dict()) from None
        try:
            # Enters the user's channel first, with no I/O before it (the cap above holds).
            room_ids = connections.attach(request.sid, current_user.id, current_login_token())
        except DATABASE_ERRORS as error:
            _refuse_unavailable(error)
        # Online means a socket anywhere: the index covers the other instances.
        presence.socket_came_or_went(current_user.id, request.sid)
        logs.event(
            "socket_connect",
            sid=request.sid,
            user_id=current_user.id,
            rooms=len(room_ids),
            transport=request.args.get("transport"),
        )

    def on_disconnect(self, reason: Any = None) -> None:
        """Rooms are per connection and vanish with it; the last one takes presence along."""
        connections.detach(request.sid)  # first: the index must not outlive the socket
        logs.event("socket_disconnect", sid=request.sid, reason=reason)
        try:
            if not current_user.is_authenticated:
                return
        except DATABASE_ERRORS:
            rollback_quietly()
            return  # no presence push while the database is down; nothing else to undo
        presence.socket_came_or_went(current_user.id, request.sid)

    @socket_event(SocketSendMessageSchema)
    def on_send_message(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        message, created = messages.post_message(
            user, payload["room_id"], payload["body"], payload["client_id"], origin_sid=request.sid
        )
        logs.event(
            "message_sent",
            sid=request.sid,
            user_id=user.id,
            room_id=message.room_id,
            message_id=message.id,
            seq=message.seq,
            retry=not created,
        )
        return {"message": message_payload(message)}

    @socket_event(SocketEditMessageSchema)
    def on_edit_message(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        message = messages.edit_message(
            user, payload["message_id"], payload["body"], origin_sid=request.sid
        )
        return {"message": message_payload(message)}

    @socket_event(SocketDeleteMessageSchema)
    def on_delete_message(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        message = messages.delete_message(user, payload["message_id"], origin_sid=request.sid)
        return {"message": message_payload(message)}

    @socket_event(SocketTypingSchema, reads_only=True)
    def on_typing(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        reading.typing(user, payload["room_id"], sid=request.sid)
        return {}

    @socket_event(SocketMarkReadSchema)
    def on_mark_read(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        return {"seq": reading.mark_read(user, payload["room_id"], payload["seq"])}

    @socket_event(SyncSchema, reads_only=True)
    def on_sync(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        """After a reconnect: what changed in each of the client's rooms since its cursor."""
        answer, gone = messages.sync(user, payload["rooms"])
        for room in answer.values():
            room["messages"] = message_payloads(room["messages"])
        return {"rooms": answer, "gone": gone}
