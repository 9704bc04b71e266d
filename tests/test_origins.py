"""ALLOWED_ORIGINS adds origins to the same-origin rule; it never shuts the app's own pages out."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat import create_app


@pytest.mark.parametrize(
    ("extra", "origin", "allowed"),
    [
        ([], "http://localhost", True),
        ([], "https://partner.example", False),
        (["https://partner.example"], "https://partner.example", True),
        (["https://partner.example"], "http://localhost", True),
        (["https://partner.example"], "https://evil.example", False),
    ],
)
def test_engineio_handshake_origin_rule(
    tmp_path: Path, migrated_template: Path, extra: list[str], origin: str, allowed: bool
) -> None:
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'o.sqlite3'}",
        SOCKETIO_ALLOWED_ORIGINS=extra,
    )
    response = app.test_client().get(
        "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
    )
    assert (response.status_code == 200) is allowed, response.get_data(as_text=True)
