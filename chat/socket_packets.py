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

from socketio.packet import Packet

from . import json_text


class _OrjsonForPackets:
    """The two functions of the ``json`` module that ``Packet`` calls: writing by orjson.

    ``json_text.dumps`` writes compact JSON (what ``Packet`` asks of ``json`` with
    ``separators=(",", ":")``) and leaves non-ASCII text as UTF-8 where ``json`` escapes
    it: the same JSON text to any parser. Other differences, none of which the chat
    sends: orjson writes NaN as ``null`` (``json`` writes ``NaN``, which is not JSON) and
    writes UUIDs and datetimes (``json`` refuses).

    Reading stays with ``json``: a client's packet is read exactly as before, so what
    orjson would refuse outright (a ``\\ud800`` escape, ``NaN``) still reaches the
    event's schema and gets its ``invalid`` answer instead of being dropped unanswered.
    """

    @staticmethod
    def dumps(data: Any, **_separators: Any) -> str:
        return json_text.dumps(data)

    loads = staticmethod(json.loads)


class ChatPacket(Packet):
    """A Socket.IO packet of the chat's: text only, written by orjson."""

    uses_binary_events = False
    json = _OrjsonForPackets
