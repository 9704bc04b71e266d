"""The bare relay baseline: python-socketio on gevent that only acknowledges and broadcasts.

No database, no authentication, no schemas, no logging: what is left is the cost of
the stack itself (gunicorn's gevent worker, Engine.IO, Socket.IO), so that each
figure of the chat server has a ratio beside it. It speaks the chat's event names and
shapes (``send_message`` answers ``{ok, message}`` and broadcasts ``message``), so the
same load generators drive both.

A socket joins the room named by ``?room=`` in its URL (``all`` without one).

The bench serves it with gunicorn (``bench/relay_gunicorn.py``), like the chat;
``python -m bench.relay --port 5001`` serves it with gevent's pywsgi instead, with
``TCP_NODELAY`` set on the listening socket (accepted sockets inherit it on Linux),
which is what a development server has to do by hand (docs/performance.md).
"""

from __future__ import annotations

if __name__ == "__main__":  # patch before anything imports socket (pywsgi mode only)
    from gevent import monkey

    monkey.patch_all()

import argparse
import itertools
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import socketio

sio = socketio.Server(async_mode="gevent")
_seq = itertools.count(1)
_rooms: dict[str, str] = {}


@sio.event
def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    room = parse_qs(environ.get("QUERY_STRING", "")).get("room", ["all"])[0]
    _rooms[sid] = room
    sio.enter_room(sid, room)


@sio.event
def disconnect(sid: str, reason: Any = None) -> None:
    _rooms.pop(sid, None)


@sio.on("send_message")
def send_message(sid: str, data: Any) -> dict[str, Any]:
    """Broadcast to the sender's room, then acknowledge: what the chat does after its commit.

    The sending socket is skipped, as the chat skips it since its ninth round (item 25):
    its ack carries the message. The relay keeps python-socketio's stock packets.
    """
    data = data if isinstance(data, dict) else {}
    message = {
        "room_id": data.get("room_id"),
        "seq": next(_seq),
        "body": data.get("body"),
        "client_id": data.get("client_id"),
    }
    sio.emit("message", message, to=_rooms.get(sid, "all"), skip_sid=sid)
    return {"ok": True, "message": message}


def _health(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


app = socketio.WSGIApp(sio, _health)


def main() -> None:
    import socket

    from gevent.pywsgi import WSGIServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it the ack waits ~40 ms for the client's delayed ACK (Nagle).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((args.host, args.port))
    listener.listen(1024)
    WSGIServer(listener, app, log=None).serve_forever()


if __name__ == "__main__":
    main()
