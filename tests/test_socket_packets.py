"""The chat's Socket.IO packet class: the same packets as python-socketio's, written faster."""

from __future__ import annotations

import json

import pytest
from socketio import packet

from chat.extensions import socketio
from chat.socket_packets import ChatPacket

PAYLOADS = [
    pytest.param(["message", {"id": 7, "body": "plain", "mentions": []}], id="event"),
    pytest.param(
        [{"ok": True, "message": {"body": 'Grüße "x" \\ 😀\u2028', "edited_at": None}}],
        id="non-ascii",
    ),
    pytest.param(["typing", {"room_id": "r", "nested": [[1, 2.5], {"a": False}]}], id="nested"),
]


@pytest.mark.parametrize("data", PAYLOADS)
@pytest.mark.parametrize("packet_type", [packet.EVENT, packet.ACK])
def test_a_packet_reads_back_as_python_socketios_own(data, packet_type: int) -> None:
    ours = ChatPacket(packet_type, data=data, id=12).encode()
    theirs = packet.Packet(packet_type, data=data, id=12).encode()
    assert ours[:3] == theirs[:3] == f"{packet_type}12", "the same type and id"
    assert json.loads(ours[3:]) == json.loads(theirs[3:]) == data
    assert packet.Packet(encoded_packet=ours).data == data, "the stock decoder reads ours"
    assert ChatPacket(encoded_packet=theirs).data == data, "ours reads the stock encoder's"


def test_the_app_sends_its_packets_with_this_class(app) -> None:
    assert socketio.server.packet_class is ChatPacket


def test_bytes_are_refused_not_sent_as_attachments() -> None:
    """What ``uses_binary_events = False`` changes: no binary packet is made of bytes."""
    assert packet.Packet(packet.EVENT, data=["x", b"\x00"]).packet_type == packet.BINARY_EVENT
    with pytest.raises(TypeError):
        ChatPacket(packet.EVENT, data=["x", b"\x00"]).encode()


def test_keys_that_are_not_strings_are_written_as_strings() -> None:
    encoded = ChatPacket(packet.EVENT, data=["x", {1: "one"}]).encode()
    assert json.loads(encoded[1:]) == ["x", {"1": "one"}]


def test_a_binary_packet_from_a_client_is_still_understood() -> None:
    """The flag only stops the scan of what the server sends; a client's binary event
    still announces its attachments, and they are put back in place."""
    incoming = ChatPacket(encoded_packet='51-["upload",{"_placeholder":true,"num":0}]')
    assert incoming.packet_type == packet.BINARY_EVENT
    assert incoming.add_attachment(b"\x00\x01") is True
    assert incoming.data == ["upload", b"\x00\x01"]


def test_what_orjson_refuses_is_read_and_written_as_by_the_stock_packet() -> None:
    """A lone surrogate or NaN from a client must reach the event's schema (which answers
    ``invalid``), not be dropped unanswered; and text holding a lone surrogate, or an int
    beyond 64 bits, is still written (escaped) rather than failing the emit."""
    for raw in ('2["send_message",{"body":"a\\ud800b"}]', '2["send_message",{"seq":NaN}]'):
        ours, theirs = ChatPacket(encoded_packet=raw), packet.Packet(encoded_packet=raw)
        assert repr(ours.data) == repr(theirs.data)
    data = [{"message": "bad key: a\ud800b", "big": 2**70}]
    assert ChatPacket(packet.ACK, data=data, id=3).encode() == (
        packet.Packet(packet.ACK, data=data, id=3).encode()
    )


def test_malformed_json_is_a_value_error_as_with_the_stock_decoder() -> None:
    for decoder in (ChatPacket, packet.Packet):
        with pytest.raises(ValueError):
            decoder(encoded_packet='2["send_message",{')
