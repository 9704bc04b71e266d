"""The JSON log line: one object per line, whatever the text it carries."""

from __future__ import annotations

import json
import logging
import uuid

from chat.logs import JsonFormatter


def _record(message: str, *args: object, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("chat.events", logging.INFO, __file__, 1, message, args, None)
    record.fields = fields  # what logs.event passes as ``extra``
    return record


def test_an_event_is_one_json_object_with_its_fields() -> None:
    room = uuid.uuid4()
    line = JsonFormatter().format(_record("message_sent", room_id=str(room), seq=3, retry=False))
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["message"], entry["room_id"], entry["seq"], entry["retry"]) == (
        "message_sent",
        str(room),
        3,
        False,
    )
    assert entry["level"] == "INFO" and entry["logger"] == "chat.events"


def test_text_orjson_refuses_is_still_written() -> None:
    """A lone surrogate (from a client's text, say) cannot be UTF-8: the line is still
    written, escaped as the standard library's encoder does, instead of being lost."""
    line = JsonFormatter().format(_record("refused %s", "a\ud800b", big=2**70))
    entry = json.loads(line)
    assert entry["message"] == "refused a\ud800b" and entry["big"] == 2**70
