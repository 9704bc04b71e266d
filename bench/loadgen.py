"""A load-generating process: ``python -m bench.loadgen`` with a JSON spec on its first stdin line.

It runs one *role* with gevent (patched first, so python-socketio's client threads
and sockets are greenlets and one process holds hundreds of clients), and talks to
the orchestrator (``bench/scenarios.py``) in lines:

- it prints ``READY`` once its clients are connected and warmed up;
- it waits for ``GO`` and measures;
- it prints ``RESULT <json>`` (with its own CPU time over the measured window), then,
  for the ``idle`` role, holds its connections until ``STOP``.

Roles:

- ``rtt``: one client sends acknowledged messages one after another (scenarios 1, 4, 8).
- ``senders``: several clients, each sending as fast as its acks allow (scenario 2).
- ``members``: many clients that only receive; latency from the send time in the body.
- ``pacer``: one client sending at a fixed rate, without waiting for acks (scenarios 3, 8).
- ``reader``: history pages over HTTP (``page_rate`` a second, or back to back), while
  sending at a fixed rate (scenario 8).
- ``raw_members``: ``members`` on raw WebSocket connections (a regex, no JSON decoding).
- ``idle``: raw WebSocket connections doing the Engine.IO handshake, then only
  answering pings (scenario 5): a python-socketio client per connection would cost
  the load generator more than the server.
"""

# ruff: noqa: E402 - gevent must patch the standard library before the other imports
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import base64
import contextlib
import json
import os
import random
import re
import socket
import struct
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import gevent
import requests
import socketio
from engineio.payload import Payload
from gevent.fileobject import FileObjectPosix
from gevent.pool import Pool

# A polling response may carry many queued packets at once.
Payload.max_decode_packets = 4096


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# stdin read cooperatively: a plain ``sys.stdin.readline`` is not patched by gevent, and
# waiting on it would stop the whole process, receivers included, until the line came.
STDIN = FileObjectPosix(sys.stdin.fileno(), "r", close=False)


def wait_for(word: str) -> None:
    while True:
        line = STDIN.readline()
        if not line:
            raise SystemExit(0)  # the orchestrator went away
        if line.strip() == word:
            return


def cpu_now() -> float:
    times = os.times()
    return times.user + times.system


def body(pad: int = 0) -> str:
    """A message body carrying its send time, so a receiver computes send -> received."""
    return f"bench {time.time_ns()} " + "x" * pad


def sent_at_ns(text: Any) -> int | None:
    try:
        return int(str(text).split(" ", 2)[1])
    except (IndexError, ValueError):
        return None


def make_client(spec: dict[str, Any], cookies: dict[str, str]) -> socketio.Client:
    http = requests.Session()
    http.cookies.update(cookies)
    return socketio.Client(http_session=http, reconnection=False, request_timeout=30)


def connect(client: socketio.Client, spec: dict[str, Any]) -> None:
    client.connect(spec["url"], transports=[spec["transport"]], wait_timeout=30)


def payload(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "room_id": spec["room_id"],
        "body": body(spec.get("pad", 0)),
        "client_id": uuid.uuid4().hex,
    }


def send_acked(client: socketio.Client, spec: dict[str, Any]) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        ack = client.call("send_message", payload(spec), timeout=15)
        ok = isinstance(ack, dict) and bool(ack.get("ok"))
    except socketio.exceptions.TimeoutError:
        ok = False
    return (time.perf_counter() - started) * 1000, ok


class Receiver:
    """Counts received messages and their send -> received latency (ms)."""

    def __init__(self, client: socketio.Client, record: bool) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.late: dict[int, float] = {}
        self.record = record
        client.on("message", self._on_message)

    def _on_message(self, data: Any) -> None:
        now = time.time_ns()
        self.count += 1
        if self.record and isinstance(data, dict):
            sent = sent_at_ns(data.get("body"))
            if sent is not None:
                latency = (now - sent) / 1e6
                self.latencies.append(latency)
                if latency > 100:  # which messages were late, for the report
                    self.late[sent] = max(self.late.get(sent, 0.0), latency)


def rounded(values: list[float]) -> list[float]:
    return [round(value, 3) for value in values]


# ---- roles --------------------------------------------------------------------------


def role_rtt(spec: dict[str, Any]) -> dict[str, Any]:
    client = make_client(spec, spec["cookies"][0])
    Receiver(client, record=False)
    connect(client, spec)
    for _ in range(spec.get("warmup", 50)):
        send_acked(client, spec)
    say("READY")
    wait_for("GO")
    interval = spec.get("interval", 0.0)
    duration = spec.get("duration")
    latencies: list[float] = []
    errors = 0
    cpu0, wall0 = cpu_now(), time.perf_counter()
    while True:
        if duration is None and len(latencies) + errors >= spec["samples"]:
            break
        if duration is not None and time.perf_counter() - wall0 >= duration:
            break
        elapsed, ok = send_acked(client, spec)
        if ok:
            latencies.append(elapsed)
        else:
            errors += 1
        if interval:
            gevent.sleep(max(0.0, interval - elapsed / 1000))
    result = {
        "latencies": rounded(latencies),
        "errors": errors,
        "cpu": cpu_now() - cpu0,
        "wall": time.perf_counter() - wall0,
    }
    client.disconnect()
    return result


def send_as_fast_as_acked(
    spec: dict[str, Any],
    senders: list[Any],
    send: Callable[[Any], tuple[float, bool]],
    received: Callable[[], int],
) -> dict[str, Any]:
    """Warm up, then each sender sends as soon as its previous send is acked, for the
    spec's duration (scenario 2); ``received`` counts what the senders heard."""
    for sender in senders:
        for _ in range(spec.get("warmup", 10)):
            send(sender)
    say("READY")
    wait_for("GO")
    duration = spec["duration"]
    latencies: list[float] = []
    errors = [0]
    cpu0, wall0 = cpu_now(), time.perf_counter()
    received0 = received()

    def run(sender: Any) -> None:
        while time.perf_counter() - wall0 < duration:
            elapsed, ok = send(sender)
            if ok:
                latencies.append(elapsed)
            else:
                errors[0] += 1

    gevent.joinall([gevent.spawn(run, sender) for sender in senders])
    return {
        "latencies": rounded(latencies),
        "errors": errors[0],
        "received": received() - received0,
        "cpu": cpu_now() - cpu0,
        "wall": time.perf_counter() - wall0,
    }


def role_senders(spec: dict[str, Any]) -> dict[str, Any]:
    clients = []
    receivers = []
    for cookies in spec["cookies"]:
        client = make_client(spec, cookies)
        receivers.append(Receiver(client, record=False))
        connect(client, spec)
        clients.append(client)
    result = send_as_fast_as_acked(
        spec,
        clients,
        lambda client: send_acked(client, spec),
        lambda: sum(receiver.count for receiver in receivers),
    )
    for client in clients:
        client.disconnect()
    return result


def role_members(spec: dict[str, Any]) -> dict[str, Any]:
    receivers: list[Receiver] = []
    clients: list[socketio.Client] = []
    failures = [0]

    last_event = [time.perf_counter()]

    def any_event(*_args: Any) -> None:
        last_event[0] = time.perf_counter()

    def join(cookies: dict[str, str]) -> None:
        client = make_client(spec, cookies)
        receiver = Receiver(client, record=True)
        client.on("*", any_event)
        try:
            connect(client, spec)
        except Exception as error:
            failures[0] += 1
            log(f"connect failed: {error!r}")
            return
        clients.append(client)
        receivers.append(receiver)

    pool = Pool(spec.get("connect_concurrency", 20))
    for cookies in spec["cookies"]:
        pool.spawn(join, cookies)
    pool.join()
    # Each member's connect tells the room it came online: n² presence events for n
    # members, which the clients are still decoding after the last handshake. Ready
    # once a second has passed without any event, so that no backlog is timed.
    quiet_since = time.perf_counter() + 300
    while time.perf_counter() - last_event[0] < 1.0 and time.perf_counter() < quiet_since:
        gevent.sleep(0.2)
    say(f"READY {len(clients)}")
    wait_for("GO")
    cpu0, wall0 = cpu_now(), time.perf_counter()
    for receiver in receivers:
        receiver.latencies.clear()
        receiver.late.clear()
        receiver.count = 0
    wait_for("STOP")
    latencies = [value for receiver in receivers for value in receiver.latencies]
    late: dict[int, float] = {}
    for receiver in receivers:
        for sent, latency in receiver.late.items():
            late[sent] = max(late.get(sent, 0.0), latency)
    result = {
        "latencies": rounded(latencies),
        "received": sum(receiver.count for receiver in receivers),
        "late": {str(sent): round(latency, 1) for sent, latency in sorted(late.items())},
        "connected": len(clients),
        "failed": failures[0],
        "cpu": cpu_now() - cpu0,
        "wall": time.perf_counter() - wall0,
    }
    say("RESULT " + json.dumps(result))
    for client in clients:
        gevent.spawn(client.disconnect)
    gevent.sleep(0.5)
    raise SystemExit(0)


def role_pacer(spec: dict[str, Any]) -> dict[str, Any]:
    """Send ``rate`` messages per second for ``duration`` seconds, acks collected as they come."""
    client = make_client(spec, spec["cookies"][0])
    connect(client, spec)
    for _ in range(5):
        send_acked(client, spec)
    say("READY")
    wait_for("GO")
    return pace(client, spec, spec["rate"], spec["duration"])


def pace(client: socketio.Client, spec: dict[str, Any], rate: float, duration: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    cpu0, wall0 = cpu_now(), time.perf_counter()
    sent = 0

    def acked(started: float) -> Any:
        def callback(ack: Any) -> None:
            if isinstance(ack, dict) and ack.get("ok"):
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors[0] += 1

        return callback

    while True:
        due = wall0 + sent / rate
        now = time.perf_counter()
        if now - wall0 >= duration:
            break
        if due > now:
            gevent.sleep(due - now)
        client.emit("send_message", payload(spec), callback=acked(time.perf_counter()))
        sent += 1
    deadline = time.perf_counter() + 10
    while len(latencies) + errors[0] < sent and time.perf_counter() < deadline:
        gevent.sleep(0.01)
    result = {
        "latencies": rounded(latencies),
        "sent": sent,
        "errors": sent - len(latencies),  # refused, or not acknowledged within 10 s
        "cpu": cpu_now() - cpu0,
        "wall": time.perf_counter() - wall0,
    }
    client.disconnect()
    return result


def role_reader(spec: dict[str, Any]) -> dict[str, Any]:
    """History pages in a loop (newest and random older ones) while sending at ``rate``."""
    client = make_client(spec, spec["cookies"][0])
    connect(client, spec)
    http = requests.Session()
    http.cookies.update(spec["cookies"][0])
    url = f"{spec['http_url']}/api/rooms/{spec['history_room']}/messages"
    top = spec["history_top"]
    say("READY")
    wait_for("GO")
    stop = [False]
    pages: list[float] = []

    page_interval = 1.0 / spec["page_rate"] if spec.get("page_rate") else 0.0

    def read() -> None:
        while not stop[0]:
            if page_interval:
                gevent.sleep(page_interval)
            params = {"limit": 50}
            if random.random() < 0.5:
                params["before"] = random.randint(2, top)
            started = time.perf_counter()
            response = http.get(url, params=params, timeout=30)
            response.raise_for_status()
            pages.append((time.perf_counter() - started) * 1000)

    readers = [gevent.spawn(read) for _ in range(spec.get("readers", 1))]
    result = pace(client, spec, spec["rate"], spec["duration"])
    stop[0] = True
    gevent.joinall(readers, timeout=10)
    result["pages"] = len(pages)
    result["page_latencies"] = rounded(pages)
    return result


# ---- raw WebSocket connections for the idle role ------------------------------------


class RawSocket:
    """A minimal Engine.IO v4 WebSocket client: handshake, Socket.IO connect, pongs."""

    def __init__(self, host: str, port: int, path: str, cookie: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=60)
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        opened = self.receive()
        if not opened.startswith("0"):
            raise ConnectionError(f"no Engine.IO open packet: {opened[:80]}")
        self.send("40")
        while True:
            answer = self.receive()
            if answer.startswith("40"):
                break
            if answer.startswith("44"):
                raise ConnectionError(f"refused: {answer}")
        self.sock.settimeout(None)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buffer += chunk

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self) -> str:
        return self.receive_bytes().decode(errors="replace")

    def receive_bytes(self) -> bytes:
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        data = self._take(length)
        opcode = first & 0x0F
        if opcode == 8:
            raise ConnectionError("close frame")
        return data

    def send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(data))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def serve(self) -> None:
        """Answer pings until the connection closes."""
        try:
            while True:
                if self.receive() == "2":
                    self.send("3")
        except (ConnectionError, OSError):
            pass


_SENT_AT = re.compile(rb'"body": ?"bench (\d+)')


class RawMember(RawSocket):
    """A receiving member on a raw connection: counts ``message`` events and times them
    from the send time in the body, without decoding the JSON (a regex on the frame)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.count = 0
        self.frames = 0
        self.latencies: list[float] = []

    def serve(self) -> None:
        try:
            while True:
                frame = self.receive_bytes()
                self.frames += 1
                if frame == b"2":
                    self.send("3")
                elif frame.startswith(b'42["message"'):
                    now = time.time_ns()
                    self.count += 1
                    match = _SENT_AT.search(frame)
                    if match:
                        self.latencies.append((now - int(match.group(1))) / 1e6)
        except (ConnectionError, OSError):
            pass


class RawSender(RawSocket):
    """A sending member on a raw connection: acked sends one after another. What it
    receives meanwhile (the room's other messages) is counted, not decoded,
    so that ten of them do not saturate a core before the server does."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ack_id = 0
        self.count = 0

    def send_acked(self, spec: dict[str, Any]) -> tuple[float, bool]:
        self.ack_id += 1
        ack_prefix = f"43{self.ack_id}[".encode()
        started = time.perf_counter()
        self.send(f"42{self.ack_id}" + json.dumps(["send_message", payload(spec)]))
        while True:
            frame = self.receive_bytes()
            if frame == b"2":
                self.send("3")
            elif frame.startswith(b'42["message"'):
                self.count += 1
            elif frame.startswith(ack_prefix):
                ok = b'"ok":true' in frame or b'"ok": true' in frame
                return (time.perf_counter() - started) * 1000, ok


def raw_path(spec: dict[str, Any]) -> tuple[Any, str]:
    parsed = urlparse(spec["url"])
    path = "/socket.io/?EIO=4&transport=websocket"
    if "room=" in (parsed.query or ""):
        path += "&" + parsed.query
    return parsed, path


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def role_raw_senders(spec: dict[str, Any]) -> dict[str, Any]:
    """Like ``senders``, on raw connections (scenario 2 with a load generator that is
    not the limit)."""
    parsed, path = raw_path(spec)
    senders = [
        RawSender(parsed.hostname, parsed.port, path, cookie_header(cookies))
        for cookies in spec["cookies"]
    ]
    result = send_as_fast_as_acked(
        spec,
        senders,
        lambda sender: sender.send_acked(spec),
        lambda: sum(sender.count for sender in senders),
    )
    for sender in senders:
        with contextlib.suppress(OSError):
            sender.sock.close()
    return result


def role_raw_members(spec: dict[str, Any]) -> dict[str, Any]:
    """Like ``members``, on raw connections: for when python-socketio clients would
    saturate the load generator before the server (1,000 members on two cores)."""
    parsed, path = raw_path(spec)
    members: list[RawMember] = []
    failures: list[str] = []

    def join(cookies: dict[str, str]) -> None:
        try:
            member = RawMember(parsed.hostname, parsed.port, path, cookie_header(cookies))
        except Exception as error:
            failures.append(repr(error))
            return
        members.append(member)
        gevent.spawn(member.serve)

    pool = Pool(spec.get("connect_concurrency", 20))
    for cookies in spec["cookies"]:
        pool.spawn(join, cookies)
    pool.join()
    # Wait out the presence events that the connects set off (see role_members).
    while True:
        before = sum(member.frames for member in members)
        gevent.sleep(1.0)
        if sum(member.frames for member in members) == before:
            break
    say(f"READY {len(members)}")
    wait_for("GO")
    cpu0, wall0 = cpu_now(), time.perf_counter()
    for member in members:
        member.latencies.clear()
        member.count = 0
    wait_for("STOP")
    result = {
        "latencies": rounded([value for member in members for value in member.latencies]),
        "received": sum(member.count for member in members),
        "late": {},
        "connected": len(members),
        "failed": len(failures),
        "cpu": cpu_now() - cpu0,
        "wall": time.perf_counter() - wall0,
    }
    say("RESULT " + json.dumps(result))
    for member in members:
        with contextlib.suppress(OSError):
            member.sock.close()
    raise SystemExit(0)


def role_idle(spec: dict[str, Any]) -> dict[str, Any]:
    parsed = urlparse(spec["url"])
    path = "/socket.io/?EIO=4&transport=websocket"
    if spec.get("room"):
        path += f"&room={spec['room']}"
    cookies = [cookie_header(jar) for jar in spec["cookies"]]
    say("READY")
    wait_for("GO")
    sockets: list[RawSocket] = []
    failures: list[str] = []
    cpu0, wall0 = cpu_now(), time.perf_counter()

    def open_one(index: int) -> None:
        try:
            raw = RawSocket(parsed.hostname, parsed.port, path, cookies[index % len(cookies)])
        except Exception as error:
            failures.append(repr(error))
            return
        sockets.append(raw)
        gevent.spawn(raw.serve)

    pool = Pool(spec.get("connect_concurrency", 50))
    for index in range(spec["connections"]):
        pool.spawn(open_one, index)
    pool.join()
    connect_wall = time.perf_counter() - wall0
    say(
        "RESULT "
        + json.dumps(
            {
                "connected": len(sockets),
                "failed": len(failures),
                "failures": failures[:5],
                "connect_wall": connect_wall,
                "cpu": cpu_now() - cpu0,
                "wall": connect_wall,
            }
        )
    )
    wait_for("STOP")
    for raw in sockets:
        with contextlib.suppress(OSError):
            raw.sock.close()
    raise SystemExit(0)


ROLES = {
    "rtt": role_rtt,
    "senders": role_senders,
    "members": role_members,
    "pacer": role_pacer,
    "reader": role_reader,
    "idle": role_idle,
    "raw_members": role_raw_members,
    "raw_senders": role_raw_senders,
}


def main() -> None:
    spec = json.loads(STDIN.readline())
    try:
        result = ROLES[spec["role"]](spec)
    except SystemExit:
        raise
    except Exception as error:
        log(f"loadgen {spec['role']} failed: {error!r}")
        say("RESULT " + json.dumps({"error": repr(error)}))
        raise SystemExit(1) from error
    say("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
