"""Security headers on every kind of response, and templates that a strict CSP allows.

The browser half (every page visited under the real policy, any violation fails)
is in ``test_csp_browser.py``; this half checks the headers in-process and that the
templates and scripts hold nothing the policy would refuse.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask import Flask

from chat import create_app
from chat.extensions import db
from chat.security import CONTENT_SECURITY_POLICY

from .support import PROJECT_DIR


def _directives(policy: str) -> dict[str, list[str]]:
    parts = [part.strip().split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def _check_common(response) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers, "HSTS only in production"


def test_the_policy_refuses_inline_script_and_framing() -> None:
    directives = _directives(CONTENT_SECURITY_POLICY)
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    for values in directives.values():
        assert "'unsafe-inline'" not in values and "'unsafe-eval'" not in values
        assert "*" not in values


def test_every_kind_of_response_carries_the_headers(make_user, client) -> None:
    alice = make_user()
    room = alice.create_room()
    responses = [
        alice.client.get("/"),  # a page
        alice.client.get(f"/rooms/{room['id']}"),
        alice.client.get("/api/me"),  # JSON
        alice.call("POST", "/api/rooms", json={}),  # a JSON error
        client.get("/login"),  # anonymous page
        client.get("/api/me"),  # 401
        client.get("/no-such-page"),  # HTML 404
        client.get("/static/js/chat-client.js"),  # a static file
        client.get("/api/openapi.json"),
    ]
    for response in responses:
        _check_common(response)


def test_an_avatar_svg_keeps_its_own_stricter_policy(make_user) -> None:
    alice = make_user()
    url = alice.client.get("/api/me").get_json()["avatar_url"]
    response = alice.client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_only_in_production(tmp_path: Path, migrated_template: Path) -> None:
    database = tmp_path / "prod.sqlite3"
    shutil.copy(migrated_template, database)
    app: Flask = create_app(
        "production",
        SECRET_KEY="production-test-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        RATELIMIT_STORAGE_URI="memory://",
    )
    response = app.test_client().get("/login", base_url="https://chat.example")
    hsts = response.headers["Strict-Transport-Security"]
    assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts)
    assert int(hsts.split("=")[1].split(";")[0]) >= 180 * 24 * 3600
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    with app.app_context():
        db.engine.dispose()


def test_production_refuses_the_test_endpoints(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="CHAT_TEST_ENDPOINTS"):
        create_app(
            "production",
            SECRET_KEY="production-test-secret",
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.sqlite3'}",
            RATELIMIT_STORAGE_URI="memory://",
            CHAT_TEST_ENDPOINTS=True,
        )


def test_the_test_endpoints_are_off_unless_asked_for(client) -> None:
    assert client.get("/_test/stats").status_code == 404


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
JS_URL = re.compile(r"javascript:", re.IGNORECASE)


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(PROJECT_DIR) for p in (PROJECT_DIR / "templates").rglob("*"))
)
def test_templates_have_no_inline_script_style_or_handler(template: Path) -> None:
    path = PROJECT_DIR / template
    if path.is_dir():
        return
    text = path.read_text()
    for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE, JS_URL):
        assert not pattern.search(text), f"{template}: {pattern.pattern}"


@pytest.mark.parametrize(
    "script",
    sorted(p.relative_to(PROJECT_DIR) for p in (PROJECT_DIR / "static" / "js").glob("*.js")),
)
def test_scripts_use_nothing_the_policy_refuses(script: Path) -> None:
    """No eval, no string timers, no style attributes (CSSOM properties are allowed)."""
    text = (PROJECT_DIR / script).read_text()
    forbidden = [
        r"\beval\s*\(",
        r"new\s+Function\s*\(",
        r"set(?:Timeout|Interval)\s*\(\s*['\"`]",
        r"setAttribute\(\s*['\"]style['\"]",
        r"\.innerHTML\s*=",
        r"\.outerHTML\s*=",
        r"insertAdjacentHTML",
        r"document\.write",
    ]
    for pattern in forbidden:
        assert not re.search(pattern, text), f"{script}: {pattern}"
