"""Room ids as people paste them: a bare UUID or any link that ends in one."""

from __future__ import annotations

import re
import uuid

_UUID_IN_TEXT = re.compile(
    r"([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})"
)


def parse_room_reference(text: str | None) -> uuid.UUID | None:
    """The room id in ``text`` (``<uuid>``, ``/rooms/<uuid>``, ``https://host/rooms/<uuid>/join``)."""
    if not text:
        return None
    match = _UUID_IN_TEXT.search(text)
    if not match:
        return None
    try:
        return uuid.UUID(match.group(1))
    except ValueError:
        return None
