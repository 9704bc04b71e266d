"""Rooms: the room list and room pages, and ``/api/rooms``."""

from flask import Flask

from ..extensions import openapi
from .api import blp as api_blueprint
from .pages import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    openapi.register_blueprint(api_blueprint)
