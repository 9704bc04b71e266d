"""Several instances of one deployment: real gunicorn + gevent servers sharing PostgreSQL
and Redis, as docs/deploy.md runs them.

Each instance holds its own sockets; what crosses instances is python-socketio's Redis
message queue (emits, and ``enter_room``/``leave_room``/``disconnect`` forwarded by
sid) and the socket index of ``chat/services/socket_registry.py`` (which sids a user or
a login has, where). These tests connect people to *different* instances and check
that every rule still holds across them.

Absence is proved with a barrier, as in test_sockets.py, with one more care: the
barrier goes through the *same instance* as the message that must not arrive, so
that both reach every other instance through the same Redis channel, in order.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from .postgres_support import TempDatabase, require_postgres, temp_database
from .protocol_client import ProtocolClient
from .redis_support import PrivateRedis, redis_url, require_redis, unique_namespace
from .support import PROJECT_DIR, ApiUser, ServerProcess, free_port, require, wait_until

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.redis]

NGINX_SAMPLE = PROJECT_DIR / "deploy" / "nginx" / "chat.conf"


def instance(
    workdir: Path, database: TempDatabase, redis_at: str, namespace: str, **env: str
) -> ServerProcess:
    """One instance of the deployment: the shared database, Redis and secret key."""
    workdir.mkdir(parents=True, exist_ok=True)
    return ServerProcess(
        workdir,
        env={
            "REDIS_URL": redis_at,
            "REDIS_NAMESPACE": namespace,
            "PRESENCE_TTL_SECONDS": "3",
            **env,
        },
        database_url=database.url_string,
    )


@dataclass
class Cluster:
    a: ServerProcess
    b: ServerProcess
    database: TempDatabase
    namespace: str
    root: Path

    def spawn(self, name: str, **env: str) -> ServerProcess:
        """Another instance of the same deployment (started by the caller)."""
        return instance(self.root / name, self.database, redis_url(), self.namespace, **env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_postgres()
    require_redis()
    root = tmp_path_factory.mktemp("cluster")
    namespace = unique_namespace()
    with temp_database(label="cluster") as database:
        a = instance(root / "a", database, redis_url(), namespace)
        b = instance(root / "b", database, redis_url(), namespace)
        a.migrate()
        try:
            a.start()
            b.start()
            yield Cluster(a, b, database, namespace, root)
        finally:
            a.stop()
            b.stop()
            client = redis.Redis.from_url(redis_url())
            for key in client.scan_iter(f"{namespace}:*"):
                client.delete(key)


@pytest.fixture
def person(cluster: Cluster) -> Iterator[Callable[[str], ApiUser]]:
    """Registered people (on instance A; ``.at(url)`` moves them); sockets closed after."""
    made: list[ApiUser] = []

    def make(name: str) -> ApiUser:
        user = ApiUser(cluster.a.base_url).register(name)
        made.append(user)
        return user

    yield make
    for user in made:
        user.close()


def _barrier(sender: ApiUser, room_id: str, *watchers) -> None:
    marker = f"barrier-{uuid.uuid4().hex}"
    assert sender.post(room_id, marker).status_code == 201
    for watcher in watchers:
        watcher.wait_for("message", lambda m: m["body"] == marker)


def _online(viewer: ApiUser, user_id: str) -> bool:
    response = viewer.request("GET", f"/api/users/{user_id}")
    assert response.status_code == 200, response.text
    return response.json()["online"]


def test_members_on_both_instances_exchange_and_a_non_member_on_either_gets_nothing(
    cluster: Cluster, person
) -> None:
    a, b = cluster.a.base_url, cluster.b.base_url
    alice, bob, eve = person("Alice"), person("Bob"), person("Eve")
    room = alice.create_room("across", member_ids=[bob.id])
    eves_room = alice.create_room("with eve", member_ids=[eve.id])
    alice_socket = alice.socket("websocket")  # on A
    bob_socket = bob.at(b).socket("polling")  # on B
    eve_on_a, eve_on_b = eve.socket("websocket"), eve.at(b).socket("polling")

    from_a = alice_socket.send(room["id"], "from A")
    assert from_a["ok"], from_a
    assert bob_socket.wait_for("message", lambda m: m["body"] == "from A") == from_a["message"]
    from_b = bob_socket.send(room["id"], "from B")
    assert from_b["ok"], from_b
    assert alice_socket.wait_for("message", lambda m: m["body"] == "from B") == from_b["message"]
    assert [m["seq"] for m in alice.history(room["id"])] == [1, 2]
    for url in (a, b):
        health = requests.get(url + "/healthz", timeout=5)
        assert health.status_code == 200
        assert (health.json()["database"], health.json()["redis"]) == ("ok", "ok")

    _barrier(alice.at(a), eves_room["id"], eve_on_a, eve_on_b)  # after "from A"
    _barrier(alice.at(b), eves_room["id"], eve_on_a, eve_on_b)  # after "from B"
    for eve_socket in (eve_on_a, eve_on_b):
        assert all(m["room_id"] != room["id"] for m in eve_socket.received()), "non-member got it"


def test_joins_leaves_and_direct_rooms_made_on_one_instance_move_sockets_on_the_other(
    cluster: Cluster, person
) -> None:
    alice, bob = person("Alice"), person("Bob")
    room = alice.create_room("open")
    control = alice.create_room("control", member_ids=[bob.id])
    bob_socket = bob.at(cluster.b.base_url).socket("websocket")

    bob.join(room["id"])  # over HTTP on A; bob's socket is on B
    bob_socket.wait_for("room_added", lambda d: d["room"]["id"] == room["id"])
    alice.post(room["id"], "after join")
    bob_socket.wait_for("message", lambda m: m["body"] == "after join")

    assert bob.request("POST", f"/api/rooms/{room['id']}/leave").status_code == 204
    alice.post(room["id"], "after leave")
    _barrier(alice, control["id"], bob_socket)
    assert "after leave" not in [m["body"] for m in bob_socket.received()]

    response = alice.request("POST", "/api/rooms/direct", json={"user_id": bob.id})
    assert response.status_code == 201, response.text
    direct = response.json()
    bob_socket.wait_for("room_created", lambda d: d["room"]["id"] == direct["id"])
    alice.post(direct["id"], "first words")
    bob_socket.wait_for("message", lambda m: m["body"] == "first words")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_logout_on_one_instance_closes_that_logins_sockets_on_the_other(
    cluster: Cluster, person, transport: str
) -> None:
    bob = person("Bob")
    on_b = bob.at(cluster.b.base_url).socket(transport)
    assert bob.request("POST", "/api/auth/logout").status_code == 204  # on A
    on_b.wait_for("session_ended")
    wait_until(lambda: not on_b.sio.connected, timeout=5)


def test_presence_counts_sockets_on_every_instance(cluster: Cluster, person) -> None:
    alice, carol = person("Alice"), person("Carol")
    on_a, on_b = alice, alice.at(cluster.b.base_url)
    assert not _online(on_a, carol.id)
    carol_socket = carol.at(cluster.b.base_url).socket("websocket")
    assert _online(on_a, carol.id), "a socket on B counts on A"
    assert _online(on_b, carol.id)
    carol_socket.disconnect()
    wait_until(lambda: not _online(on_a, carol.id), timeout=5)


def test_users_of_a_killed_instance_go_offline_within_the_presence_ttl(
    cluster: Cluster, person
) -> None:
    ttl = 2
    doomed = cluster.spawn("doomed", PRESENCE_TTL_SECONDS=str(ttl)).start()
    try:
        alice, carol = person("Alice"), person("Carol")
        carol.at(doomed.base_url).socket("websocket")
        assert _online(alice, carol.id)
        killed = time.monotonic()
        doomed.crash()  # SIGKILL: no disconnect handler, no goodbye to Redis
        wait_until(lambda: not _online(alice, carol.id), timeout=ttl + 5, interval=0.1)
        assert time.monotonic() - killed < ttl + 1.5, "offline within the TTL (and one poll)"
    finally:
        doomed.stop()


def test_eight_concurrent_senders_over_both_instances_get_gapless_seqs_and_all_pushes(
    cluster: Cluster, person
) -> None:
    per_sender = 25
    senders = [person(f"Sender {i}") for i in range(8)]
    room = senders[0].create_room("busy", member_ids=[s.id for s in senders[1:]])
    urls = [cluster.a.base_url, cluster.b.base_url]
    sockets = [
        user.at(urls[i % 2]).socket("websocket" if i % 4 < 2 else "polling")
        for i, user in enumerate(senders)
    ]
    start = threading.Barrier(len(senders))

    def run(index: int) -> list[int]:
        start.wait(timeout=30)
        seqs = []
        for n in range(per_sender):
            ack = sockets[index].send(room["id"], f"sender {index} message {n}")
            assert ack["ok"], ack
            seqs.append(ack["message"]["seq"])
        return seqs

    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        acked = list(pool.map(run, range(len(senders))))

    total = per_sender * len(senders)
    assert sorted(seq for own in acked for seq in own) == list(range(1, total + 1))
    stored = senders[0].history(room["id"], limit=total)
    assert [m["seq"] for m in stored] == list(range(1, total + 1))
    # Every member, on either instance, got every other member's message pushed once;
    # its own came in its acks.
    for sock, own in zip(sockets, acked, strict=True):
        others = sorted(set(range(1, total + 1)) - set(own))
        expected = len(others)
        wait_until(lambda s=sock, n=expected: len(s.received()) >= n, timeout=20)
        assert sorted(m["seq"] for m in sock.received()) == others


def test_a_redis_restart_loses_no_message_and_live_delivery_resumes_on_its_own(
    tmp_path: Path,
) -> None:
    require_postgres()
    private = PrivateRedis(tmp_path).start()
    namespace = unique_namespace()
    with temp_database(label="redis-restart") as database:
        a = instance(tmp_path / "a", database, private.url, namespace, PRESENCE_TTL_SECONDS="3")
        b = instance(tmp_path / "b", database, private.url, namespace, PRESENCE_TTL_SECONDS="3")
        a.migrate()
        reader = None
        people: list[ApiUser] = []
        try:
            a.start()
            b.start()
            sender = ApiUser(a.base_url).register("Sender")
            reader_user = ApiUser(a.base_url).register("Reader")
            people += [sender, reader_user]
            room = sender.create_room("through a restart", member_ids=[reader_user.id])
            reader = ProtocolClient(b.base_url, reader_user.http.cookies, "websocket")
            reader.track(room["id"])
            reader.connect()
            wait_until(reader.synced.is_set)
            watcher = reader_user.at(b.base_url).socket("polling")

            sent = [sender.post(room["id"], "before").json()]
            watcher.wait_for("message", lambda m: m["body"] == "before")

            private.stop()
            for n in range(10):
                response = sender.post(room["id"], f"during {n}")
                assert response.status_code == 201, "sends go on: the database has them"
                sent.append(response.json())
            health = requests.get(a.base_url + "/healthz", timeout=10)
            assert health.status_code == 503
            assert health.json()["redis"] == "unavailable"
            assert health.json()["database"] == "ok"

            private.start()  # empty: the socket index is gone with the old process
            # B's listener resubscribes by itself and asks its clients to resync: the
            # reader catches up with no further message and no reconnect.
            watcher.wait_for("resync", timeout=15)
            wait_until(lambda: len(reader.messages(room["id"])) == len(sent), timeout=15)
            assert [m["id"] for m in reader.messages(room["id"])] == [m["id"] for m in sent]
            assert reader.connects == 1, "caught up without reconnecting"
            # And live delivery works again.
            sent.append(sender.post(room["id"], "after the restart").json())
            watcher.wait_for("message", lambda m: m["id"] == sent[-1]["id"])
            wait_until(lambda: len(reader.messages(room["id"])) == len(sent))
            applied = reader.applications[room["id"]]
            assert len(applied) == len(set(applied)), "each message shown once"

            # The socket index was rebuilt by B's heartbeat: a join on A reaches B again.
            wait_until(lambda: _online(sender, reader_user.id), timeout=15)
            later = sender.create_room("after the restart")
            reader_user.join(later["id"])
            sender.post(later["id"], "joined after the restart")
            watcher.wait_for("message", lambda m: m["body"] == "joined after the restart")
            assert requests.get(a.base_url + "/healthz", timeout=10).status_code == 200
        finally:
            if reader is not None:
                reader.close()
            for user in people:
                user.close()
            a.stop()
            b.stop()
            private.stop()


# ---- nginx, with the sample configuration of docs/deploy.md --------------------------


class Nginx:
    """nginx running deploy/nginx/chat.conf, with its ports replaced, in a private prefix."""

    def __init__(self, workdir: Path, upstream_ports: list[int]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        site = NGINX_SAMPLE.read_text()
        site = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        servers = iter(upstream_ports)
        site = re.sub(
            r"server 127\.0\.0\.1:500\d", lambda _: f"server 127.0.0.1:{next(servers)}", site
        )
        (workdir / "chat.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/chat.conf;
}}
"""
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        require(Path(self.binary).exists(), "nginx is not installed (apt-get install nginx)")
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout=10)
        return self

    def _answers(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError((self.workdir / "error.log").read_text()[-2000:])
        try:
            return requests.get(self.base_url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.mark.nginx
def test_behind_nginx_both_transports_work_and_a_stopped_instance_hands_its_clients_over(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster.spawn("c", TRUSTED_PROXIES="1")
    d = cluster.spawn("d", TRUSTED_PROXIES="1")
    proxy = Nginx(tmp_path, [0, 0])  # ports filled in below, once the instances listen
    clients: list[ProtocolClient] = []
    people: list[ApiUser] = []
    try:
        c.start()
        d.start()
        proxy = Nginx(tmp_path, [c.port, d.port]).start()
        alice = ApiUser(proxy.base_url).register("Alice")
        bob = ApiUser(proxy.base_url).register("Bob")
        people += [alice, bob]
        room = alice.create_room("behind nginx", member_ids=[bob.id])
        for user, transport in ((alice, "websocket"), (bob, "polling")):
            client = ProtocolClient(proxy.base_url, user.http.cookies, transport)
            client.track(room["id"])
            clients.append(client.connect())
        for client in clients:
            wait_until(client.synced.is_set)
        alice_client, bob_client = clients
        sent = [
            alice_client.send(room["id"], "over a websocket"),
            bob_client.send(room["id"], "by polling"),
        ]
        for client in clients:
            wait_until(lambda c=client: len(c.messages(room["id"])) == 2)

        # Every client here has the same address, so one instance serves them all.
        serving = requests.get(proxy.base_url + "/healthz", timeout=5).json()["instance"]
        by_instance = {
            requests.get(s.base_url + "/healthz", timeout=5).json()["instance"]: s for s in (c, d)
        }
        stopped = by_instance[serving]
        survivor = d if stopped is c else c
        stopped_at = time.monotonic()
        stopped.stop()  # SIGTERM: the worker drops its sockets, clients come back via nginx
        assert time.monotonic() - stopped_at < 10, "shut down well before the graceful timeout"

        for n in range(5):
            sent.append(alice.at(cluster.a.base_url).post(room["id"], f"while moving {n}").json())
        sent.append(alice_client.send(room["id"], "from the new instance"))
        for client in clients:
            wait_until(lambda cl=client: len(cl.messages(room["id"])) == len(sent), timeout=30)
            assert [m["id"] for m in client.messages(room["id"])] == [m["id"] for m in sent]
            assert client.connects >= 2, "reconnected after the shutdown"
        now_serving = requests.get(proxy.base_url + "/healthz", timeout=5).json()["instance"]
        assert (
            now_serving
            == requests.get(survivor.base_url + "/healthz", timeout=5).json()["instance"]
        )
    finally:
        for client in clients:
            client.close()
        for user in people:
            user.close()
        proxy.stop()
        c.stop()
        d.stop()
