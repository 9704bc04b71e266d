"""The OpenAPI document says what the API really answers, errors included.

flask-smorest documents errors with its own schema and validation failures as 422,
while this API answers ``{"error", "message"}`` (``chat.schemas.ErrorSchema``) and 400
for a body or query that fails its schema. Here the document is brought in line:

- ``ChatApi`` uses ``ErrorSchema`` for every error response, including the
  ``default`` one each operation gets;
- the arguments parser aborts with 400 (so the generated 400 entries are true, and
  ``chat/http.py`` turns that abort into the ``invalid`` body);
- ``errors(blp, 401, 404, ...)`` declares, on a route, the statuses it can answer
  besides its success, each with the same error schema.

``tests/test_schemathesis.py`` holds the document to it: every answer of every
operation must be declared and match its schema.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask_smorest import Api, Blueprint

from .schemas import ErrorSchema

F = TypeVar("F", bound=Callable[..., Any])

# Before any blueprint declares its arguments: the documented status is read then.
Blueprint.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400

WHY = {
    400: "Invalid input (`invalid`, with `errors`), a missing CSRF token (`csrf_failed`), "
    "or a refused value (see `error`)",
    401: "Not logged in (`unauthorized`), or wrong credentials",
    403: "Not allowed (`not_author`, `wrong_password`)",
    404: "No such resource, or a room you are not a member of",
    409: "Conflicts with stored data (`email_taken`, `client_id_reused`)",
    413: "The request body is too large (`too_large`)",
    429: "Rate limited (`rate_limited`): the body's `retry_after` and the `Retry-After` "
    "header say after how many seconds to try again",
    503: "The database did not answer in time (`unavailable`); nothing was stored",
}


class ChatApi(Api):
    """flask-smorest's ``Api`` with this service's error shape."""

    ERROR_SCHEMA = ErrorSchema


def errors(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Declare the error statuses one route can answer (schema: ``ErrorSchema``)."""

    def decorate(func: F) -> F:
        for status in statuses:
            func = blp.alt_response(
                status,
                schema=ErrorSchema,
                description=WHY.get(status, HTTPStatus(status).phrase),
            )(func)
        return func

    return decorate
