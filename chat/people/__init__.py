"""People: profiles and avatars, the user directory, and 1:1 conversations.

Pages under ``/people`` and ``/profile``, the JSON API (``/api/me``, ``/api/users``,
``/api/rooms/direct``) and the avatar files under ``/avatars``.
"""

from flask import Flask

from ..extensions import openapi
from .api import blp as api_blueprint
from .media import bp as media_blueprint
from .pages import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(media_blueprint)
    openapi.register_blueprint(api_blueprint)
