"""What text the chat can store: the one rule for every string a person writes.

JSON can carry two things that are strings to Python but not text to a database: an
unpaired surrogate (``"\\ud800"``), which cannot be encoded as UTF-8 (SQLite's driver,
argon2 and PostgreSQL all refuse it), and NUL (``"\\u0000"``), which PostgreSQL's
``text`` cannot hold. Both used to reach the database and fail there as a 500. Every
boundary that takes text (the request schemas, used by HTTP and the socket events,
and the HTML forms) refuses them instead, with a 400 and nothing stored.
"""

from __future__ import annotations

from typing import Any

from wtforms.validators import ValidationError

NOT_TEXT = "Must be text: no NUL characters or unpaired surrogates."


def is_storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(_form: Any, field: Any) -> None:
    """A WTForms validator for the HTML forms: the same rule as the schemas' ``Text``."""
    if isinstance(field.data, str) and not is_storable_text(field.data):
        raise ValidationError(NOT_TEXT)
