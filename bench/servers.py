"""Starting, measuring and stopping the servers under test.

Both servers run under gunicorn's gevent worker, one worker, as ``make run`` starts
the chat: the chat app (``wsgi:app``) and the bare relay (``bench.relay:app``). So
the only difference between a figure and its baseline is the application.

CPU is read from ``/proc/<pid>/stat`` (utime + stime of the master and its workers):
the server's own cost, whatever the wall clock did while other processes shared the
two cores.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import probe

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_DIR / "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVER_CORE = 0
CLIENT_CORES = [1]


def raise_fd_limit() -> int:
    """Raise the open-files limit to the hard limit (inherited by every child process).

    10,000 sockets need 10,000 descriptors in the server and as many in the clients.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin_to(cores: list[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cores`` (taskset without the binary)."""
    if not cores:
        return None
    available = os.sched_getaffinity(0)
    wanted = {core for core in cores if core in available}
    if not wanted:
        return None

    def _pin() -> None:
        os.sched_setaffinity(0, wanted)

    return _pin


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the ")" the fields start at "state" (field 3): utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_rss_bytes(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[1]) * PAGE_SIZE


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Database:
    """A fresh database for one server: a SQLite file, or a PostgreSQL database dropped after."""

    kind: str  # "sqlite" or "postgres"
    workdir: Path
    name: str = ""

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / 'chat.sqlite3'}"
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    @property
    def path(self) -> Path:
        return self.workdir / "chat.sqlite3"

    def create(self) -> Database:
        if self.kind == "postgres":
            import psycopg

            self.name = f"chat_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(f"{POSTGRES_ADMIN_URL}/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        if self.kind == "postgres" and self.name:
            import psycopg

            with psycopg.connect(f"{POSTGRES_ADMIN_URL}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(f"{POSTGRES_ADMIN_URL}/postgres", connect_timeout=2):
            return True
    except Exception:
        return False


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@dataclass
class Server:
    """One gunicorn master with its gevent worker: the chat app, or the bare relay."""

    kind: str  # "chat" or "relay"
    workdir: Path
    database: Database | None = None
    env: dict[str, str] = field(default_factory=dict)
    cores: list[int] | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.kind}-{self.port}.log"

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONPATH": str(PROJECT_DIR),
        }
        if self.kind == "chat":
            assert self.database is not None
            env.update(
                {
                    "FLASK_APP": "chat:create_app()",
                    "DATABASE_URL": self.database.url,
                    "INSTANCE_PATH": str(self.workdir),
                    "SECRET_KEY": "bench-secret",
                    # The bench registers thousands of users; the hash's cost is not
                    # what is measured here.
                    "PASSWORD_HASH_TIME_COST": "1",
                    "PASSWORD_HASH_MEMORY_KIB": "8",
                    # Limits off (docs/performance.md): one address sends thousands of
                    # messages and opens thousands of sockets.
                    "RATELIMIT_ENABLED": "false",
                    "SOCKETS_PER_USER_MAX": "100000",
                }
            )
        env.update(self.env)
        return env

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=PROJECT_DIR,
            env=self.environment(),
            check=True,
            capture_output=True,
        )

    def start(self) -> Server:
        if self.kind == "chat":
            # The production settings; under scenarios 3 and 8 the same, plus the loop
            # probe or the garbage collector's log.
            config = "gunicorn.conf.py"
            if probe.wanted(self.env):
                config = str(BENCH_DIR / "chat_gunicorn.py")
            command = [sys.executable, "-m", "gunicorn", "-c", config, "wsgi:app"]
        else:
            command = [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(BENCH_DIR / "relay_gunicorn.py"),
                "bench.relay:app",
            ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin_to(self.cores),
        )
        deadline = time.monotonic() + 30
        ready_path = "/api/csrf" if self.kind == "chat" else "/healthz"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} server exited:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                if requests.get(self.base_url + ready_path, timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} server did not answer within 30 s")
            time.sleep(0.1)
        return self

    @property
    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *children_of(self.process.pid)]

    @property
    def worker_pid(self) -> int:
        children = children_of(self.process.pid) if self.process else []
        return children[0] if children else 0

    def cpu_seconds(self) -> float:
        """utime + stime of the master and its worker(s), in seconds."""
        return sum(proc_cpu_seconds(pid) for pid in self.pids)

    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.worker_pid)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


class Workspace:
    """A temporary folder for databases and server logs, removed unless ``keep``."""

    def __init__(self, keep: bool = False) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="chat-bench-"))
        self.keep = keep
        self._servers: list[Server] = []
        self._databases: list[Database] = []

    def database(self, kind: str) -> Database:
        folder = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.path))
        database = Database(kind, folder).create()
        self._databases.append(database)
        return database

    def chat(
        self,
        database: Database,
        env: dict[str, str] | None = None,
        cores: list[int] | None = None,
        migrate: bool = True,
    ) -> Server:
        server = Server("chat", database.workdir, database, env or {}, cores)
        self._servers.append(server)
        if migrate:
            server.migrate()
        return server.start()

    def relay(self, env: dict[str, str] | None = None, cores: list[int] | None = None) -> Server:
        server = Server("relay", self.path, None, env or {}, cores)
        self._servers.append(server)
        return server.start()

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self._servers:
            self._servers.remove(server)

    def close(self) -> None:
        for server in self._servers:
            server.stop()
        for database in self._databases:
            try:
                database.drop()
            except Exception as error:
                print(f"could not drop {database.name}: {error}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
