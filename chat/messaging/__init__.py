"""Messages: ``/api/rooms/<id>/messages`` and the Socket.IO events (blueprint ``chat``)."""

from flask import Flask

from ..extensions import openapi, socketio
from .api import blp
from .sockets import ChatNamespace


def init_app(app: Flask) -> None:
    openapi.register_blueprint(blp)
    socketio.on_namespace(ChatNamespace("/"))
