"""The errors the service layer raises, and their one JSON shape.

Services raise these instead of returning status codes so that an HTTP route
and a socket handler turn the same rule into the same answer.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal that the client caused or can act on; never a server fault."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class Invalid(ServiceError):
    status = 400
    code = "invalid"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class TooLarge(ServiceError):
    """An upload over its own size limit (an avatar over 5 MB, say)."""

    status = 413
    code = "too_large"


class Unavailable(ServiceError):
    """The database (or another backing service) did not answer in time; retry later."""

    status = 503
    code = "unavailable"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}
