"""Hypothesis throws arbitrary payloads at every socket event of a real server.

Mallory, a logged-in user, sends every event the server handles (and some it does
not) with payloads drawn from anything JSON can carry: wrong types, missing and
extra fields, huge numbers, long strings, nesting, ids of her own room and message,
of other people's, and of nothing. For each one:

- the event is answered with an ack ``{ok: true, ...}`` or
  ``{ok: false, error, message}`` with a known error code, never ``internal``;
- her socket stays connected.

Afterwards the server still answers, Alice and Bob (in a room Mallory is not in)
still chat live, their room is exactly as it was, and Mallory's own room holds
exactly the messages whose sends were acknowledged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.messaging.sockets import ChatNamespace

from .support import ApiUser, ServerProcess, SocketClient

pytestmark = pytest.mark.server

EVENTS = sorted(
    name.removeprefix("on_")
    for name in vars(ChatNamespace)
    if name.startswith("on_") and name not in {"on_connect", "on_disconnect"}
)
KNOWN_ERRORS = {
    "invalid",
    "not_found",
    "not_author",
    "message_deleted",
    "client_id_reused",
    "direct_room",
}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.text(alphabet="\x00\ud7ff\u202e\u0000<>&\"'\\", max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


class Ids:
    """The ids a payload may name: filled in once the world exists."""

    room = ""
    message = 0
    foreign_room = ""
    foreign_message = 0


def _ids() -> st.SearchStrategy[Any]:
    rooms = st.sampled_from(["room", "foreign_room"]).map(lambda name: getattr(Ids, name))
    return st.one_of(
        rooms,
        st.uuids().map(str),
        st.text(max_size=40),
        json_value,
    )


def _message_ids() -> st.SearchStrategy[Any]:
    known = st.sampled_from(["message", "foreign_message"]).map(lambda name: getattr(Ids, name))
    return st.one_of(known, st.integers(min_value=-(2**64), max_value=2**64), json_value)


def _bodies() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=60),
        st.text(min_size=3990, max_size=4010),
        st.just("   "),
        json_value,
    )


def _fields() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "room_id": _ids(),
        "message_id": _message_ids(),
        "body": _bodies(),
        "client_id": st.one_of(st.none(), st.text(max_size=70), json_value),
        "seq": st.one_of(st.integers(min_value=-5, max_value=2**63), json_value),
        "rooms": st.one_of(st.dictionaries(_ids().map(str), json_value, max_size=4), json_value),
        "extra": json_value,
    }


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """A dict of some of the fields events use (right or wrong), or anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_value)
    fields = _fields()
    names = draw(st.sets(st.sampled_from(sorted(fields)), max_size=len(fields)))
    return {name: draw(fields[name]) for name in sorted(names)}


class World:
    def __init__(self, server: ServerProcess) -> None:
        self.alice = ApiUser(server.base_url).register("Alice")
        self.bob = ApiUser(server.base_url).register("Bob")
        self.mallory = ApiUser(server.base_url).register("Mallory")
        self.control = self.alice.create_room("Alice and Bob", member_ids=[self.bob.id])
        foreign = self.alice.post(self.control["id"], "before the fuzz").json()
        own = self.mallory.create_room("Mallory's")
        mine = self.mallory.post(own["id"], "Mallory's first").json()
        Ids.room, Ids.message = own["id"], mine["id"]
        Ids.foreign_room, Ids.foreign_message = self.control["id"], foreign["id"]
        self.own_room = own
        self.bob_socket = self.bob.socket("websocket")
        self.acked_sends: set[int] = {mine["id"]}

    def control_state(self) -> Any:
        room = self.alice.request("GET", f"/api/rooms/{self.control['id']}").json()
        changes = self.alice.request(
            "GET", f"/api/rooms/{self.control['id']}/changes", params={"since": 0}
        ).json()
        return room["last_seq"], room["last_change"], changes["messages"]

    def close(self) -> None:
        for user in (self.alice, self.bob, self.mallory):
            user.close()


@pytest.fixture
def world(server: ServerProcess) -> Iterator[World]:
    made = World(server)
    yield made
    made.close()


def _check_ack(event: str, payload: Any, ack: Any, world: World) -> None:
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), (event, payload, ack)
    if ack["ok"]:
        if event == "send_message":
            world.acked_sends.add(ack["message"]["id"])
            assert ack["message"]["room_id"] == Ids.room
        return
    assert isinstance(ack.get("message"), str) and ack["message"], (event, payload, ack)
    assert ack["error"] in KNOWN_ERRORS, (event, payload, ack)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_arbitrary_payloads_on_every_event(world: World, transport: str) -> None:
    before = world.control_state()
    sock = world.mallory.socket(transport)
    examples = 150 if transport == "websocket" else 60

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(event=st.sampled_from(EVENTS), payload=payloads())
    def fuzz(event: str, payload: Any) -> None:
        # Every payload must fit the frame limit (64 KiB), or the server closes the socket
        # by design (tested in test_abuse.py).
        assert len(json.dumps(payload)) < 60_000
        ack = sock.emit_ack(event, payload, timeout=10)
        _check_ack(event, payload, ack, world)
        assert sock.sio.connected

    fuzz()
    _after_the_fuzz(world, sock, before)


def test_unknown_events_and_extra_arguments_are_ignored(world: World) -> None:
    sock = world.mallory.socket("websocket")
    for event in ("connect", "disconnect", "join", "enter_room", "__proto__", "x" * 200):
        sock.sio.emit(event, {"room": Ids.foreign_room})
    two_arguments = ({"room_id": Ids.room, "body": "two"}, {"x": 1})
    ack = sock.sio.call("send_message", two_arguments, timeout=5)
    _check_ack("send_message", None, ack, world)
    sync = sock.emit_ack("sync", {"rooms": {Ids.room: 0}})
    assert sync["ok"] and sock.sio.connected


def _after_the_fuzz(world: World, sock: SocketClient, before: Any) -> None:
    # The server answers, and two others keep chatting live.
    marker = f"after the fuzz {uuid.uuid4().hex}"
    alice_socket = world.alice.socket("websocket")
    assert alice_socket.send(world.control["id"], marker)["ok"] is True
    world.bob_socket.wait_for("message", lambda m: m["body"] == marker)
    # Alice and Bob's room holds what it held, plus that one message.
    last_seq, last_change, messages = world.control_state()
    assert (last_seq, last_change) == (before[0] + 1, before[1] + 1)
    assert messages[:-1] == before[2]
    # Mallory's room holds exactly the sends that were acknowledged.
    stored = {m["id"] for m in world.mallory.history(Ids.room, limit=200)}
    assert stored == world.acked_sends
    # Nothing Mallory sent reached Bob.
    assert all(m["room_id"] == world.control["id"] for m in world.bob_socket.received())
    assert sock.sio.connected
