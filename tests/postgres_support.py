"""PostgreSQL for the tests: where the server is, and throwaway databases on it.

``TEST_DATABASE_URL`` names a PostgreSQL server and a database the tests may connect
to in order to create others (``.ci/run`` exports it); without it the tests try the
local default below and use it when it answers. Every test, template or server gets
its own uniquely named database (``chat_test_<pid>_<random>``), created here and
dropped afterwards, so runs of several people on one machine never meet.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from .support import require

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> URL:
    return make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL)


def conninfo(url: URL) -> str:
    """libpq's form of a SQLAlchemy URL (psycopg does not take the "+psycopg" part)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@functools.cache
def reachable() -> bool:
    try:
        with psycopg.connect(conninfo(admin_url()), connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    require(
        reachable(),
        f"PostgreSQL is not reachable at {admin_url().render_as_string()} "
        "(set TEST_DATABASE_URL, or start the local server)",
    )


class TempDatabase:
    """A database of its own on the test server, optionally copied from a template."""

    def __init__(self, template: str | None = None, label: str = "") -> None:
        suffix = f"_{label}" if label else ""
        self.name = f"chat_test_{os.getpid()}_{uuid.uuid4().hex[:10]}{suffix}"
        self.template = template
        self.url = admin_url().set(database=self.name)

    @property
    def url_string(self) -> str:
        return self.url.render_as_string(hide_password=False)

    def url_via(self, host: str, port: int) -> str:
        """The same database reached at another address (through a TCP proxy, say)."""
        return self.url.set(host=host, port=port).render_as_string(hide_password=False)

    def create(self) -> TempDatabase:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name))
        if self.template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(self.template))
        self._admin(statement)
        return self

    def drop(self) -> None:
        # FORCE ends any session still connected (a killed server's, say).
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
        )

    def _admin(self, statement: sql.Composable) -> None:
        with psycopg.connect(conninfo(admin_url()), autocommit=True) as connection:
            connection.execute(statement)


@contextmanager
def temp_database(template: str | None = None, label: str = "") -> Iterator[TempDatabase]:
    database = TempDatabase(template, label).create()
    try:
        yield database
    finally:
        database.drop()
