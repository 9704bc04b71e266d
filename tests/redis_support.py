"""Redis for the tests: the shared server, and private ones a test may restart.

``TEST_REDIS_URL`` names a Redis server (``.ci/run`` exports it); without it the tests
try the local default and use it when it answers. Servers under test get a unique
``REDIS_NAMESPACE`` each, so their keys and their Socket.IO channel never meet
another run's on a shared Redis. A test that restarts Redis runs its own
``redis-server`` on a free port instead (:class:`PrivateRedis`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import redis

from .support import free_port, require, wait_until

DEFAULT_URL = "redis://127.0.0.1:6379/0"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or DEFAULT_URL


@functools.cache
def reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(redis_url(), socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def require_redis() -> None:
    require(reachable(), f"Redis is not reachable at {redis_url()} (set TEST_REDIS_URL)")


def unique_namespace() -> str:
    return f"chat-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class PrivateRedis:
    """A redis-server of the test's own on a free port, which it may stop and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        require(Path(REDIS_SERVER).exists(), "redis-server is not installed")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10)
        return self

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Kill it: its data (the socket index included) is gone, as after a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
