"""What the cyclic garbage collector is left to do (docs/performance.md, item 17).

A full collection walks every object the worker holds, and with a thousand sockets
open that held the event loop for 100-175 ms, in the middle of a fan-out. How often
one comes depends on how much garbage only the cyclic collector can free: each
socket event used to leave its whole request context as such garbage (a routing
``NotFound`` kept with its traceback), and each request with arguments a marshmallow
schema. Freed by reference counting instead, a send leaves none, and ``wsgi.py`` can
let the young generation grow (``gc.set_threshold``) without its collections filling
up with garbage to free.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable

import pytest
import requests
from flask import Flask
from flask.ctx import RequestContext

from chat.extensions import socketio
from chat.schemas import HistoryQuerySchema, PostMessageSchema, UserQuerySchema

from .support import ServerProcess


def _cyclic_garbage_of(action: Callable[[], None]) -> list[object]:
    """What only the cyclic collector could free of what ``action`` left behind."""
    gc.collect()  # earlier garbage is freed now, not counted as the action's
    gc.set_debug(gc.DEBUG_SAVEALL)  # the collector keeps what it finds in gc.garbage
    try:
        action()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_a_socket_event_leaves_no_cyclic_garbage(app: Flask, make_user) -> None:
    alice = make_user("Alice")
    room = alice.create_room("Tidy")
    client = socketio.test_client(app, flask_test_client=alice.client)
    assert client.is_connected()

    def send(body: str) -> None:
        ack = client.emit(
            "send_message",
            {"room_id": room["id"], "body": body, "client_id": uuid.uuid4().hex},
            callback=True,
        )
        assert ack["ok"], ack

    def events() -> None:
        for number in range(5):
            send(f"message {number}")
        client.emit("typing", {"room_id": room["id"]})

    send("warm-up")  # first-use caches (compiled statements) are not per-event garbage
    garbage = _cyclic_garbage_of(events)

    # Only this app's contexts: other tests' apps can become garbage meanwhile (a
    # background task of theirs ending). Each event's cycle held its context.
    assert [obj for obj in garbage if isinstance(obj, RequestContext) and obj.app is app] == []
    client.disconnect()


def test_an_http_request_still_finds_its_route_and_its_404(client) -> None:
    """Only a socket event skips URL matching; a request over HTTP matches as before."""
    assert client.get("/api/csrf").status_code == 200
    response = client.get("/api/no-such-thing", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_a_request_with_arguments_builds_no_schema(make_user) -> None:
    """webargs builds a schema per request when given a class, and a marshmallow schema
    is a cycle (its fields point back at it); the routes give it instances."""
    alice = make_user("Alice")
    room = alice.create_room("Pages")
    url = f"/api/rooms/{room['id']}/messages"

    def requests_with_arguments() -> None:
        for _ in range(5):
            assert alice.call("GET", url, query_string={"limit": 5}).status_code == 200
            assert alice.call("POST", url, json={"body": "hello"}).status_code == 201
            assert alice.call("GET", "/api/users", query_string={"q": "Ali"}).status_code == 200

    alice.call("GET", url)  # warm-up
    garbage = _cyclic_garbage_of(requests_with_arguments)

    # One schema per request was 15 here; other tests' leftovers could add a stray one.
    schemas = [
        obj
        for obj in garbage
        if isinstance(obj, HistoryQuerySchema | PostMessageSchema | UserQuerySchema)
    ]
    assert len(schemas) < 3, schemas


def test_query_arguments_parse_each_request_on_their_own(make_user) -> None:
    """The argument schemas are built once and shared: one request's values never leak
    into the next one's, nor does one request's error."""
    alice = make_user("Alice")
    room = alice.create_room("Pages")
    for number in range(3):
        alice.call("POST", f"/api/rooms/{room['id']}/messages", json={"body": f"m{number}"})
    url = f"/api/rooms/{room['id']}/messages"

    assert [
        m["body"] for m in alice.call("GET", url, query_string={"limit": 1}).get_json()["messages"]
    ] == ["m2"]
    refused = alice.call("GET", url, query_string={"limit": 0})
    assert refused.status_code == 400
    assert [m["body"] for m in alice.call("GET", url).get_json()["messages"]] == ["m0", "m1", "m2"]


def _worker_stats(server: ServerProcess) -> dict:
    response = requests.get(server.base_url + "/_test/stats", timeout=10)
    assert response.status_code == 200
    return response.json()


def _worker_garbage_of(server: ServerProcess, action: Callable[[], None]) -> int:
    """How many objects the worker's own collector freed as cyclic garbage while
    ``action`` ran (``gc.get_stats`` totals, each read after a full collection)."""
    before = _worker_stats(server)["gc_collected"]
    action()
    return _worker_stats(server)["gc_collected"] - before


# Cyclic objects a send may leave in the worker, by transport. Over long-polling a send
# is HTTP requests, and each leaves about 16 of the stack's own (python-engineio's
# middleware defines a class per request; werkzeug's URL matcher a recursive closure).
# A send's event itself left about 60 more on either transport.
_GARBAGE_PER_SEND = {"websocket": 5, "polling": 25}


@pytest.mark.server
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_sends_over_a_real_socket_leave_no_cyclic_garbage_in_the_worker(
    server: ServerProcess, make_api_user, transport: str
) -> None:
    """Counted by the worker's own collector: every object it freed as cyclic garbage
    (``gc.get_stats``), before and after 20 sends."""
    alice = make_api_user("Alice")
    room = alice.create_room("Counted")
    socket = alice.socket(transport)
    assert socket.send(room["id"], "warm-up")["ok"]

    def sends() -> None:
        for number in range(20):
            assert socket.send(room["id"], f"message {number}")["ok"]

    garbage = _worker_garbage_of(server, sends)

    assert garbage < 20 * _GARBAGE_PER_SEND[transport], garbage


# The same for a connect (and its disconnect): the handshake's HTTP requests leave the
# stack's own (one over WebSocket, several over long-polling); the connect event itself
# left about 200 more before its request context skipped URL matching too.
_GARBAGE_PER_CONNECT = {"websocket": 30, "polling": 100}


@pytest.mark.server
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_connects_over_a_real_socket_leave_little_cyclic_garbage_in_the_worker(
    server: ServerProcess, make_api_user, transport: str
) -> None:
    alice = make_api_user("Alice")
    alice.socket(transport).disconnect()  # warm-up

    def connects() -> None:
        for _ in range(10):
            alice.socket(transport).disconnect()

    garbage = _worker_garbage_of(server, connects)

    assert garbage < 10 * _GARBAGE_PER_CONNECT[transport], garbage


@pytest.mark.server
def test_the_worker_collects_young_objects_rarely_and_never_walks_its_start_up_heap(
    server: ServerProcess,
) -> None:
    stats = _worker_stats(server)
    assert stats["gc_thresholds"][0] >= 10_000
    assert stats["gc_frozen"] > 10_000
