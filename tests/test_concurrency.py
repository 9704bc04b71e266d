"""Seq numbering under concurrent senders on the real server."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

# On PostgreSQL too: the room row lock, not SQLite's single writer, must keep seqs gapless.
pytestmark = [pytest.mark.server, pytest.mark.both_databases]


def test_fifty_concurrent_sends_get_seqs_one_to_fifty(make_api_user) -> None:
    owner = make_api_user("Owner")
    senders = [make_api_user(f"Sender {i}") for i in range(5)]
    room = owner.create_room("busy", member_ids=[s.id for s in senders])
    sockets = [
        sender.socket("websocket" if i % 2 else "polling") for i, sender in enumerate(senders)
    ]
    start = threading.Barrier(50)

    def send(n: int) -> int:
        sender, sock = senders[n % 5], sockets[n % 5]
        start.wait(timeout=30)
        if n % 2:
            ack = sock.send(room["id"], f"message {n}", client_id=uuid.uuid4().hex)
            assert ack["ok"], ack
            return ack["message"]["seq"]
        response = sender.post(room["id"], f"message {n}", client_id=uuid.uuid4().hex)
        assert response.status_code == 201, response.text
        return response.json()["seq"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        seqs = list(pool.map(send, range(50)))

    assert sorted(seqs) == list(range(1, 51))
    stored = owner.history(room["id"], limit=200)
    assert [m["seq"] for m in stored] == list(range(1, 51))
    assert sorted(m["body"] for m in stored) == sorted(f"message {n}" for n in range(50))
