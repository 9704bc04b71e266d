"""Every page, in a real browser, under the real Content Security Policy: no violation.

The policy (``chat/security.py``) allows scripts, styles and connections from the
app's own origin only. A page that needed more (an inline script, a style
attribute, a foreign font) would silently lose that part in production; here it
fails the test instead. Violations are caught two ways: the page's
``securitypolicyviolation`` events (listened to from an init script, which the
policy does not apply to) and Chromium's console reports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from .browser_support import Person, composer, register
from .support import ApiUser, ServerProcess

pytestmark = pytest.mark.browser

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${where}`);
});
"""


def _watch(person: Person) -> tuple[Page, list[str]]:
    page = person.open_page()
    reports: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            reports.append(message.text)

    page.on("console", console)
    return page, reports


def _violations(page: Page) -> list[str]:
    return page.evaluate("window.__csp || []")


def test_no_page_violates_the_content_security_policy(
    new_person: Callable[..., Person], server: ServerProcess
) -> None:
    person = new_person("Csp")
    person.context.add_init_script(LISTEN)
    page, reports = _watch(person)
    seen: dict[str, list[str]] = {}

    def visit(path: str) -> None:
        response = page.goto(path)
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        seen[path] = _violations(page)

    visit("/login")
    visit("/register")
    register(person, page)
    seen["/ (after register)"] = _violations(page)
    me = page.evaluate("fetch('/api/me').then((r) => r.json())")

    # A room of one's own, with live script at work: send a message and see it.
    page.get_by_label("Room title").fill("CSP room")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("heading", name="CSP room")).to_be_visible()
    composer(page).fill("under the policy")
    composer(page).press("Enter")
    # Rendered by the page's script from the ack or the push (the markup is the UI's own).
    expect(page.locator("#messages").get_by_text("under the policy", exact=True)).to_be_visible()
    seen[page.url] = _violations(page)

    # Someone else's room: the join page.
    other = ApiUser(server.base_url).register("Other")
    try:
        room = other.create_room("Elsewhere")
    finally:
        other.close()
    for path in [
        "/",
        f"/rooms/{room['id']}/join",
        "/people",
        f"/people/{me['id']}",
        f"/people/{other.id}",
        "/profile",
        f"/rooms/{uuid.uuid4()}",  # a 404 page
        "/no-such-page",
    ]:
        visit(path)

    violations = {path: found for path, found in seen.items() if found}
    assert not violations, violations
    assert not reports, reports
    assert not [e for e in person.errors if "Content Security Policy" in e], person.errors

    # The detector itself works: an injected inline script is refused, and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.append(s); }"
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert "script-src" in _violations(page)[0]
