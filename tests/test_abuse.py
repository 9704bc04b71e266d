"""Abuse against a real server: floods, a consumer that stops reading, oversized frames.

Each test runs on a server of its own (gunicorn + gevent, as in production) and
reads its inside through ``/_test/stats`` (greenlets, resident memory, Engine.IO
sessions), which only test servers expose. Everything is sent to 127.0.0.1, in
bounded loops.

What must hold:

- 300 handshakes without a session are all refused, the server keeps serving a
  conversation meanwhile, and the flood leaves nothing behind: the server closes
  each refused Engine.IO session itself within seconds (a client that never comes
  back included), greenlets return to where they were, memory grows a little;
- a client that stops reading its socket does not delay anyone else's messages;
- a frame over ``SOCKETIO_MAX_HTTP_BUFFER_SIZE`` closes that connection only.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import socketio
import websocket
from socketio import packet

from chat.socket_packets import ChatPacket

from .support import ApiUser, ServerProcess, SocketClient, wait_until

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def abuse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A short heartbeat: a refused session's ping greenlet sleeps one interval before
    # it notices the close, and the test waits for those to be gone.
    process = ServerProcess(
        tmp_path_factory.mktemp("abuse"),
        env={"SOCKETIO_PING_INTERVAL": "4", "SOCKETIO_PING_TIMEOUT": "20"},
    )
    process.migrate()
    process.start()
    yield process
    process.stop()


def _stats(server: ServerProcess) -> dict[str, int]:
    response = requests.get(server.base_url + "/_test/stats", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def chat(abuse_server: ServerProcess) -> Iterator[tuple[ApiUser, ApiUser, dict]]:
    alice = ApiUser(abuse_server.base_url).register("Alice")
    bob = ApiUser(abuse_server.base_url).register("Bob")
    room = alice.create_room("Under attack", member_ids=[bob.id])
    yield alice, bob, room
    alice.close()
    bob.close()


def _round_trip(sender: SocketClient, receiver: SocketClient, room_id: str) -> float:
    """Seconds from a send until the other member has the push."""
    marker = f"ping {uuid.uuid4().hex}"
    started = time.monotonic()
    assert sender.send(room_id, marker)["ok"] is True
    receiver.wait_for("message", lambda m: m["body"] == marker, timeout=10)
    return time.monotonic() - started


# ---- a flood of handshakes without a session --------------------------------------------


def _refused_handshake(base_url: str, transport: str) -> str:
    client = socketio.Client(reconnection=False)
    reasons: list = []
    client.on("connect_error", reasons.append)
    try:
        client.connect(base_url, transports=[transport], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        pass
    finally:
        client.disconnect()
    return reasons[0]["message"] if reasons else "connected"


def _abandoned_polling_handshake(base_url: str) -> int:
    """An Engine.IO session opened and a Socket.IO connect sent, then never touched again."""
    url = base_url + "/socket.io/?EIO=4&transport=polling"
    opened = requests.get(url, timeout=10)
    sid = json.loads(opened.text[1:])["sid"]
    requests.post(f"{url}&sid={sid}", data="40", timeout=10)
    answer = requests.get(f"{url}&sid={sid}", timeout=10)
    assert '"unauthorized"' in answer.text
    return answer.status_code


def test_300_handshakes_without_a_session_are_refused_and_leave_little_behind(
    abuse_server: ServerProcess, chat: tuple[ApiUser, ApiUser, dict]
) -> None:
    alice, bob, room = chat
    alice_socket, bob_socket = alice.socket("websocket"), bob.socket("websocket")
    _round_trip(alice_socket, bob_socket, room["id"])
    before = _stats(abuse_server)

    latencies: list[float] = []
    stop = threading.Event()

    def converse() -> None:
        while not stop.is_set():
            latencies.append(_round_trip(alice_socket, bob_socket, room["id"]))
            time.sleep(0.05)

    talker = threading.Thread(target=converse)
    talker.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            closed = list(
                pool.map(
                    lambda n: _refused_handshake(
                        abuse_server.base_url, "websocket" if n % 2 else "polling"
                    ),
                    range(200),
                )
            )
            abandoned = list(
                pool.map(lambda _n: _abandoned_polling_handshake(abuse_server.base_url), range(100))
            )
    finally:
        stop.set()
        talker.join(timeout=20)

    assert closed == ["unauthorized"] * 200
    assert abandoned == [200] * 100
    # The conversation went on during the flood, without long stalls.
    assert len(latencies) >= 3 and max(latencies) < 2.0, latencies

    # Refused sessions are closed by the server within seconds, abandoned or not (the
    # heartbeat would take 24 s here), and what they held goes with them.
    wait_until(
        lambda: _stats(abuse_server)["engineio_sessions"] <= before["engineio_sessions"],
        timeout=8,
        interval=0.5,
    )

    def settled() -> dict[str, int] | None:
        now = _stats(abuse_server)
        return now if now["greenlets"] <= before["greenlets"] + 5 else None

    after = wait_until(settled, timeout=10, interval=0.5)
    grown_kib = after["rss_kib"] - before["rss_kib"]
    assert grown_kib < 32 * 1024, f"RSS grew by {grown_kib} KiB"
    assert after["open_fds"] <= before["open_fds"] + 20
    # Still serving.
    assert _round_trip(bob_socket, alice_socket, room["id"]) < 2.0


# ---- a consumer that stops reading ------------------------------------------------------


def test_a_client_that_stops_reading_does_not_delay_the_others(
    abuse_server: ServerProcess, chat: tuple[ApiUser, ApiUser, dict]
) -> None:
    alice, bob, room = chat
    stuck = ApiUser(abuse_server.base_url).register("Stuck")
    try:
        stuck.join(room["id"])
        cookies = "; ".join(f"{c.name}={c.value}" for c in stuck.http.cookies)
        url = abuse_server.base_url.replace("http://", "ws://")
        # A tiny receive buffer, and no reads at all after the handshake.
        raw = websocket.create_connection(
            f"{url}/socket.io/?EIO=4&transport=websocket",
            cookie=cookies,
            sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),),
            timeout=10,
        )
        assert raw.recv().startswith("0")  # Engine.IO open
        raw.send("40")
        assert raw.recv().startswith("40")  # Socket.IO connected, then never read again

        alice_socket, bob_socket = alice.socket("websocket"), bob.socket("websocket")
        # Pushes of ~24 KB (any JSON encoder writes each \x01 as \u0001), enough of them
        # for 6 MiB toward a socket that takes none of it, counted with the server's own
        # packet class: more than the kernel buffers (4 MiB at most here) hold, so the
        # server's writes to it block.
        body = "\x01" * 3990
        push = ChatPacket(packet.EVENT, data=["message", {"body": f"000 {body}"}]).encode()
        sends = math.ceil(6 * 2**20 / len(push.encode()))
        slowest = 0.0
        for n in range(sends):
            started = time.monotonic()
            ack = alice_socket.send(room["id"], f"{n} {body}")
            assert ack["ok"] is True
            bob_socket.wait_for("message", lambda m, n=n: m["body"].startswith(f"{n} "), timeout=5)
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 2.0, f"a send took {slowest:.2f}s to reach Bob"
        assert _round_trip(bob_socket, alice_socket, room["id"]) < 2.0
        raw.close()
    finally:
        stuck.close()


# ---- a frame over the size limit -------------------------------------------------------


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_an_oversized_frame_closes_only_that_connection(
    abuse_server: ServerProcess, chat: tuple[ApiUser, ApiUser, dict], transport: str
) -> None:
    alice, bob, room = chat
    big_tab, other_tab = alice.socket(transport), alice.socket(transport)
    bob_socket = bob.socket(transport)
    payload = {"room_id": room["id"], "body": "y" * 100_000}  # > 64 KiB
    big_tab.sio.emit("send_message", payload)
    wait_until(lambda: not big_tab.sio.connected, timeout=10)
    # Nothing of it was stored, and everyone else, Alice's other tab included, carries on.
    assert all(len(m["body"]) < 5000 for m in alice.history(room["id"]))
    assert _round_trip(other_tab, bob_socket, room["id"]) < 2.0
    assert _round_trip(bob_socket, other_tab, room["id"]) < 2.0
    assert other_tab.sio.connected and bob_socket.sio.connected


def test_the_stats_endpoint_exists_only_on_test_servers() -> None:
    """Guard: the endpoint is registered by a flag that production refuses (test_headers.py)."""
    source = (Path(__file__).resolve().parent / "support.py").read_text()
    assert '"CHAT_TEST_ENDPOINTS": "true"' in source
