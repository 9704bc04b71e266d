"""Messages: ``/api/rooms/<id>/messages``, search, and the Socket.IO events (blueprint ``chat``)."""

from flask import Flask

from ..extensions import openapi, socketio
from .api import blp
from .pages import bp as search_pages
from .sockets import ChatNamespace


def init_app(app: Flask) -> None:
    openapi.register_blueprint(blp)
    app.register_blueprint(search_pages)
    socketio.on_namespace(ChatNamespace("/"))
