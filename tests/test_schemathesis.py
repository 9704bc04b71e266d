"""The OpenAPI document tells the truth: schemathesis fuzzes every operation against it.

For each operation of ``/api/openapi.json``, schemathesis generates requests (valid
ones, and invalid ones: wrong types, missing fields, out-of-range values) and sends
them, in-process, as a logged-in user with the session cookie and the CSRF header
a browser would send. Every answer must be declared for that operation, have the
declared content type and match the declared schema (errors included: 400 with
``{"error", "message", "errors"}``, not flask-smorest's 422), and no answer may be
a 500. Invalid input must be refused.

Path parameters that are well-formed ids are pointed at a real room and message of
the user, so that the requests reach past the 404 into the rules behind it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chat import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def world(app: Flask, make_user) -> dict[str, Any]:
    alice = make_user("Alice")
    bob = make_user("Bob")
    room = alice.create_room("Fuzzed", member_ids=[bob.id])
    message = alice.call(
        "POST", f"/api/rooms/{room['id']}/messages", json={"body": "first"}
    ).get_json()
    session = alice.client.get_cookie("session")
    assert session is not None
    return {
        "headers": {"X-CSRFToken": alice.csrf},
        "cookies": {"session": session.value},
        "room_id": room["id"],
        "message_id": message["id"],
        "user_id": bob.id,
        "user": alice,
        "app": app,
    }


def _spec_app() -> Flask:
    """An app used only to read the document from (its operations run on each test's app)."""
    return create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")


# Loaded at import: schemathesis' lazy fixture loader does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", _spec_app())


def _aim(case: Any, world: dict[str, Any]) -> None:
    """Point well-formed ids at the world's room, message and other user."""
    params = case.path_parameters or {}
    for name, real in (("room_id", world["room_id"]), ("user_id", world["user_id"])):
        value = params.get(name)
        if isinstance(value, str) and _is_uuid(value):
            params[name] = real
    value = params.get("message_id")
    if isinstance(value, int) and value >= 1:
        params["message_id"] = world["message_id"]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[0-9a-fA-F-]{32,36}", value))


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_documented(case: Any, world: dict[str, Any]) -> None:
    _aim(case, world)
    # A fresh client per call on this test's app: the Cookie header is the login, and no
    # Set-Cookie of an answer (a logout, a login as someone else) carries over.
    case.call_and_validate(
        session=world["app"].test_client(),
        headers=world["headers"],
        cookies=world["cookies"],
        # Valid by the schema is not always valid by the rules: an unknown member id, a
        # common password, a name with control characters, a stale cursor get their 400.
        excluded_checks=[positive_data_acceptance],
    )


def test_validation_errors_are_documented_as_400_with_the_error_schema(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    assert {"errors", "retry_after"} <= set(error["properties"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            if "requestBody" in operation or any(
                p.get("in") == "query" for p in operation.get("parameters", [])
            ):
                assert "400" in responses, (method, path)


def test_the_document_declares_the_limits_and_the_new_endpoint(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "429" in paths["/api/auth/login"]["post"]["responses"]
    assert "429" in paths["/api/rooms/{room_id}/messages"]["post"]["responses"]
    password = paths["/api/me/password"]["post"]
    assert {"204", "400", "401", "403", "429"} <= set(password["responses"])
