"""Fixtures: an in-process app on a migrated SQLite file, and a real server process.

The schema always comes from the Alembic migrations (built once, copied per
test), so every test also exercises them.

Tests marked ``both_databases`` run twice: on SQLite and on PostgreSQL (a fresh
database per test, cloned from a migrated template; the real server gets its own
database for the session). The PostgreSQL run skips when no server answers, except
in CI, where it fails (tests/postgres_support.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from chat import create_app
from chat.extensions import db

from . import postgres_support

# The browser fixtures, for every test module (pytest finds fixtures imported here).
from .browser_support import chromium, new_person, sync_pw  # noqa: F401
from .support import ApiUser, ServerProcess

BACKENDS = ["sqlite", "postgresql"]


# CHAT_TESTS_ALL_DATABASES=1 runs every test that uses a database on both (slower).
ALL_DATABASES = bool(os.environ.get("CHAT_TESTS_ALL_DATABASES"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run ``both_databases`` tests once per backend; the others use SQLite alone."""
    if "db_backend" in metafunc.fixturenames and (
        ALL_DATABASES or metafunc.definition.get_closest_marker("both_databases")
    ):
        metafunc.parametrize("db_backend", BACKENDS, indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database built by the migrations, which each test's database copies."""
    from flask_migrate import upgrade

    postgres_support.require_postgres()
    template = postgres_support.TempDatabase(label="template").create()
    try:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=template.url_string)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield template.name
    finally:
        template.drop()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database built by ``flask db upgrade``, copied by each test that needs one."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "chat.sqlite3"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def app(
    tmp_path: Path, migrated_template: Path, db_backend: str, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    with fresh_app(tmp_path, migrated_template, db_backend, request) as made:
        yield made


@contextmanager
def fresh_app(
    tmp_path: Path,
    migrated_template: Path,
    db_backend: str,
    request: pytest.FixtureRequest,
    **config: Any,
) -> Iterator[Flask]:
    """The ``app`` fixture's app on a fresh database, with ``config`` on top."""
    pg_database = None
    if db_backend == "postgresql":
        template = request.getfixturevalue("pg_template")
        pg_database = postgres_support.TempDatabase(template=template).create()
        uri = pg_database.url_string
    else:
        database = tmp_path / "chat.sqlite3"
        shutil.copy(migrated_template, database)
        uri = f"sqlite:///{database}"
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=uri,
        WTF_CSRF_ENABLED=True,
        UPLOAD_FOLDER=str(tmp_path / "uploads"),
        **config,
    )
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        if pg_database is not None:
            pg_database.drop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class InProcessUser:
    """The in-process twin of ``ApiUser``: JSON calls with the CSRF header set."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = client.get("/api/csrf").get_json()["csrf_token"]
        self.profile: dict = {}

    @property
    def id(self) -> str:
        return self.profile["id"]

    def call(self, method: str, path: str, **kwargs):
        headers = {"X-CSRFToken": self.csrf, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def register(
        self,
        display_name: str = "Tester",
        email: str | None = None,
        password: str = "a long enough password",
    ):
        from .support import unique_email

        response = self.call(
            "POST",
            "/api/auth/register",
            json={
                "email": email or unique_email(),
                "password": password,
                "display_name": display_name,
            },
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        self.profile = response.get_json()
        return self

    def create_room(self, title: str = "Room", member_ids: list[str] | None = None) -> dict:
        response = self.call(
            "POST", "/api/rooms", json={"title": title, "member_ids": member_ids or []}
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    def post_message(self, room_id: str, body: str) -> dict:
        """A message stored over HTTP (201), as its JSON."""
        response = self.call("POST", f"/api/rooms/{room_id}/messages", json={"body": body})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()


@pytest.fixture
def make_user(app: Flask):
    """Registered, logged-in users, each with their own test client (cookie jar)."""

    def make(display_name: str = "Tester", **kwargs) -> InProcessUser:
        return InProcessUser(app.test_client()).register(display_name, **kwargs)

    return make


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real gunicorn + gevent server for the socket tests; each test makes its own users."""
    process = ServerProcess(tmp_path_factory.mktemp("server"))
    process.migrate()
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The same server on a PostgreSQL database of its own (for ``both_databases`` tests)."""
    postgres_support.require_postgres()
    with postgres_support.temp_database(label="server") as database:
        process = ServerProcess(
            tmp_path_factory.mktemp("pg-server"), database_url=database.url_string
        )
        process.migrate()
        process.start()
        yield process
        process.stop()


@pytest.fixture
def server(db_backend: str, request: pytest.FixtureRequest) -> ServerProcess:
    """The real server on the test's backend (SQLite unless the test runs on both)."""
    return request.getfixturevalue("pg_server" if db_backend == "postgresql" else "sqlite_server")


@pytest.fixture
def make_api_user(server: ServerProcess):
    """Registered users of the real server; their sockets are closed after the test."""
    users: list[ApiUser] = []

    def make(display_name: str = "Tester") -> ApiUser:
        user = ApiUser(server.base_url).register(display_name)
        users.append(user)
        return user

    yield make
    for user in users:
        user.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI every test must run: a skip (a missing browser or server) fails the run."""
    from .support import STRICT

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if STRICT and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(
                f"CI: {len(skipped)} test(s) skipped; every test must run here.", red=True
            )
