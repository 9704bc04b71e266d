"""How failures look over HTTP: JSON ``{"error", "message"}`` under /api, pages elsewhere.

One handler per kind of failure, so that no route needs its own try/except
and no request ever ends in a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import user_loaded_from_cookie
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from .database import DatabaseError, is_unavailable, rollback_quietly
from .errors import ServiceError, error_body
from .extensions import login_manager
from .services.sessions import ensure_login_token
from .socket_sessions import load_user

log = logging.getLogger(__name__)

# Werkzeug's names are fine for most statuses; these read better for an API client.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json


def _json_error(status: int, code: str, message: str, **extra: Any):
    response = jsonify(error_body(code, message, **extra))
    response.status_code = status
    return response


def register_http_handlers(app: Flask) -> None:
    login_manager.user_loader(load_user)
    user_loaded_from_cookie.connect(ensure_login_token, app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"

    @login_manager.unauthorized_handler
    def _unauthorized():
        if wants_json():
            return _json_error(401, "unauthorized", "Log in first.")
        return redirect(url_for("auth.login", next=request.full_path))

    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError):
        if wants_json():
            response = _json_error(error.status, error.code, error.message, **error.extra)
        else:
            page = render_template("error.html", status=error.status, message=error.message)
            response = make_response(page, error.status)
        if "retry_after" in error.extra:
            # A rate limit (429): the header says when, for clients that read only headers.
            response.headers["Retry-After"] = str(error.extra["retry_after"])
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        message = f"CSRF check failed: {error.description}"
        if wants_json():
            return _json_error(400, "csrf_failed", message)
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        if wants_json():
            data = getattr(error, "data", None)
            if status == 422 or (status == 400 and isinstance(data, dict) and "messages" in data):
                # A schema failure (webargs; 400 since apidoc.py, 422 by default).
                messages = (data or {}).get("messages", {})
                return _json_error(400, "invalid", _describe(messages), errors=messages)
            code = _HTTP_CODES.get(status, "error")
            response = _json_error(status, code, error.description or error.name)
        else:
            page = render_template("error.html", status=status, message=error.description)
            response = make_response(page, status)
        # The exception's own headers (405's Allow, say) belong in the answer too.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    # DBAPIError, not only OperationalError: a connection found dead mid-request can also
    # surface as an InterfaceError (psycopg: "the connection is closed").
    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(error: DatabaseError):
        rollback_quietly()
        if not is_unavailable(error):
            return _unexpected(error)
        log.warning("database unavailable: %s", error)
        message = "The database did not answer in time; try again."
        if wants_json():
            return _json_error(503, "unavailable", message)
        return render_template("error.html", status=503, message=message), 503

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side."
        if wants_json():
            return _json_error(500, "internal", message)
        return render_template("error.html", status=500, message=message), 500


def _describe(messages: Any) -> str:
    """Turn webargs' ``{location: {field: [problems]}}`` into one sentence."""
    parts: list[str] = []
    if isinstance(messages, dict):
        for location in messages.values():
            if isinstance(location, dict):
                for field, problems in location.items():
                    text = (
                        "; ".join(map(str, problems))
                        if isinstance(problems, list)
                        else str(problems)
                    )
                    parts.append(f"{field}: {text}")
    return " | ".join(parts) or "The request is not valid."
