"""The Alembic migrations build the schema from nothing and agree with the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from chat import create_app
from chat.extensions import db
from chat.search_index import include_in_autogenerate

from .postgres_support import require_postgres, temp_database
from .support import PROJECT_DIR


def check_migrations_round_trip(database_url: str) -> None:
    """Upgrade from nothing, compare with the models, go down to nothing, and up again."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "include_name": include_in_autogenerate},
            )
            assert compare_metadata(context, db.metadata) == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "profiles", "rooms", "room_members", "messages"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.engine.dispose()


def test_migrations_match_models_and_downgrade_cleanly_on_sqlite(tmp_path: Path) -> None:
    check_migrations_round_trip(f"sqlite:///{tmp_path / 'm.sqlite3'}")


def test_migrations_match_models_and_downgrade_cleanly_on_postgresql() -> None:
    require_postgres()
    with temp_database(label="migrations") as database:
        check_migrations_round_trip(database.url_string)


def test_flask_db_check_reports_no_pending_changes(tmp_path: Path) -> None:
    env = {
        "FLASK_APP": "chat:create_app()",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x",
        "PATH": str(Path(sys.executable).parent),
    }
    for command in (["db", "upgrade"], ["db", "check"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", *command],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr
