"""The avatar files: stored thumbnails and the generated initials.

Both kinds of URL name their content (a content hash; the initials and colour
themselves), so they are cached for a year and marked immutable. ``nosniff`` keeps a
browser from reading a file as anything but the image type it is served as, and the
SVG gets a CSP of its own so that, even opened directly, it can run nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_from_directory
from flask_login import login_required

from ..services import avatars

bp = Blueprint("avatars", __name__, url_prefix=avatars.URL_PREFIX)

ONE_YEAR = 365 * 24 * 3600


def _immutable(response: Response, scope: str) -> Response:
    response.headers["Cache-Control"] = f"{scope}, max-age={ONE_YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<name>")
@login_required
def stored(name: str) -> Response:
    """A stored thumbnail; private to signed-in users (it is a person's photo)."""
    if not avatars.STORED_NAME.match(name):
        abort(404)
    response = send_from_directory(
        avatars.avatar_folder(), name, mimetype="image/webp", max_age=ONE_YEAR, etag=True
    )
    return _immutable(response, "private")


@bp.get("/default/<int:colour>/<token>.svg")
def generated(colour: int, token: str) -> Response:
    """Initials on a colour; the URL says everything, so no lookup and no login."""
    text = avatars.decode_initials(token)
    if text is None or colour >= len(avatars.PALETTE):
        abort(404)
    response = Response(avatars.default_avatar_svg(colour, text), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return _immutable(response, "public")
