"""Socket.IO packets as the chat writes them: JSON by orjson, and no search for bytes.

python-socketio builds a packet for every push and every acknowledgement. Its own
packet class walks the whole payload first, looking for ``bytes`` to send as binary
attachments (a reduce over a list per dict, per nested dict: about 11 µs for a
send's ack in a slow hour, as much again for its push), then encodes it with the
standard library's ``json``. The chat never sends binary data, so the walk finds
nothing, every time; orjson writes the same JSON several times faster
(docs/performance.md, ninth round, item 24). Incoming packets are read as before.

python-socketio takes a packet class as its ``serializer`` (msgpack's own class also
turns ``uses_binary_events`` off). Incoming binary packets are still understood: the
server reads a packet's type and attachments from the packet itself, not from this flag.
With ``REDIS_URL``, python-socketio's Redis manager still runs the stock scan once per
emit before it publishes (``PubSubManager.emit``); the local delivery then uses this class.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from socketio.packet import Packet


class _OrjsonForPackets:
    """The two functions of the ``json`` module that ``Packet`` calls: writing by orjson.

    orjson writes compact JSON (what ``separators=(",", ":")`` asks of ``json``) and
    leaves non-ASCII text as UTF-8 where ``json`` escapes it: the same JSON text to any
    parser. Keys that are not strings (a UUID, an int) are written as strings, as
    ``json`` does for ints. What orjson refuses to write and ``json`` writes (a lone
    surrogate, which ``json`` escapes; an int beyond 64 bits) is left to ``json``. Other
    differences, none of which the chat sends: orjson writes NaN as ``null`` (``json``
    writes ``NaN``, which is not JSON) and writes UUIDs and datetimes (``json`` refuses).

    Reading stays with ``json``: a client's packet is read exactly as before, so what
    orjson would refuse outright (a ``\\ud800`` escape, ``NaN``) still reaches the
    event's schema and gets its ``invalid`` answer instead of being dropped unanswered.
    """

    @staticmethod
    def dumps(data: Any, **_options: Any) -> str:
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # orjson.JSONEncodeError
            return json.dumps(data, separators=(",", ":"))

    loads = staticmethod(json.loads)


class ChatPacket(Packet):
    """A Socket.IO packet of the chat's: text only, written by orjson."""

    uses_binary_events = False
    json = _OrjsonForPackets
