"""The product's acceptance check, in a real browser: a person can register and chat from the pages.

The API and socket tests prove the server's contract; only a browser proves that the
HTML forms, the invite link and ``static/js/room.js`` put that contract in people's
hands. Two people, each in their own browser context (own cookies), go through the
pages as a person would: register, create a room, share and open its invite link,
chat live both ways, and reload. Along the way the test checks that a message is
shown as text and never run as HTML, and that no page logs an error.

It drives headless Chromium (Debian's ``/usr/bin/chromium``, not a Playwright
download) through Playwright's sync API against the real gunicorn + gevent server,
and saves screenshots of the pages to ``docs/screenshots`` for the docs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from .support import PASSWORD, PROJECT_DIR, ServerProcess, require, unique_email

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = PROJECT_DIR / "docs" / "screenshots"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Harmless as text; as HTML it would make an <img> whose onerror opens a dialog.
HOSTILE = "<img src=x onerror=alert(1)>"


@dataclass
class Person:
    """One person: a browser context of their own, and what went wrong in its pages."""

    name: str
    context: BrowserContext
    base_url: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open_page(self) -> Page:
        """A new tab whose page errors, console errors and dialogs are recorded."""
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} at {message.location}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def url(self, path: str) -> str:
        return self.base_url + path


# Named so as not to collide with pytest-playwright's fixtures, should that plugin be installed.
@pytest.fixture(scope="module")
def sync_pw() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def chromium(sync_pw: Playwright) -> Iterator[Browser]:
    require(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM}")
    browser = sync_pw.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def new_person(chromium: Browser, server: ServerProcess) -> Iterator[Callable[..., Person]]:
    """People with their own browser context at a given viewport; closed after the test."""
    contexts: list[BrowserContext] = []

    def make(name: str, viewport: ViewportSize = DESKTOP) -> Person:
        context = chromium.new_context(viewport=viewport, base_url=server.base_url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Person(name=name, context=context, base_url=server.base_url)

    yield make
    for context in contexts:
        context.close()


def register(person: Person, page: Page) -> None:
    """Fill in the registration form; a new account lands on its (empty) room list."""
    page.goto("/register")
    page.get_by_label("Display name").fill(person.name)
    page.get_by_label("Email").fill(unique_email(person.name.lower()))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(person.url("/"))
    expect(page.get_by_role("heading", name="Your rooms")).to_be_visible()
    expect(page.locator(".whoami")).to_have_text(person.name)


def composer(page: Page) -> Locator:
    # exact: the message list is labelled "Messages", which "Message" would also match.
    return page.get_by_label("Message", exact=True)


def bodies(page: Page) -> Locator:
    return page.locator("#messages li.message .body")


def senders(page: Page) -> Locator:
    return page.locator("#messages li.message .sender")


def test_two_people_register_and_chat_from_the_pages(new_person: Callable[..., Person]) -> None:
    alice = new_person("Alice", DESKTOP)
    bob = new_person("Bob", PHONE)
    page_a = alice.open_page()
    page_b = bob.open_page()

    # 1. Both register through the HTML form.
    register(alice, page_a)
    register(bob, page_b)

    # 2. Alice creates a room and gets its invite link.
    page_a.get_by_label("Room title").fill("Browser test room")
    page_a.get_by_role("button", name="Create room").click()
    expect(page_a).to_have_url(re.compile(rf"/rooms/{UUID}$"))
    room_id = page_a.url.rsplit("/", 1)[1]
    expect(page_a.get_by_role("heading", name="Browser test room")).to_be_visible()
    invite = page_a.get_by_label("Invite link")
    invite_url = alice.url(f"/rooms/{room_id}/join")
    expect(invite).to_have_value(invite_url)
    expect(invite).to_have_attribute("readonly", "")
    expect(invite).not_to_be_editable()

    # 3. Bob opens the invite link (as copied from Alice's page) and joins.
    page_b.goto(invite.input_value())
    expect(page_b.get_by_role("heading", name="Join this room?")).to_be_visible()
    page_b.get_by_role("button", name="Join room").click()
    expect(page_b).to_have_url(bob.url(f"/rooms/{room_id}"))
    expect(page_b.get_by_role("heading", name="Browser test room")).to_be_visible()
    expect(page_b.locator("#member-count")).to_have_text("2")

    # 4. Alice sends with Enter; Bob sees it without reloading. Bob answers with Send.
    first = "Hello Bob, can you read this?"
    composer(page_a).press_sequentially(first)
    composer(page_a).press("Enter")
    expect(composer(page_a)).to_have_value("")
    expect(bodies(page_a)).to_have_text([first])
    # By push, or by the catch-up fetch room.js makes if Bob's socket connected after the send.
    expect(bodies(page_b)).to_have_text([first])

    reply = "Loud and clear, Alice."
    composer(page_b).fill(reply)
    page_b.get_by_role("button", name="Send").click()
    expect(composer(page_b)).to_have_value("")
    expect(bodies(page_b)).to_have_text([first, reply])
    # Alice's socket has acknowledged her send, so this arrives by push, not by a fetch.
    expect(bodies(page_a)).to_have_text([first, reply])
    expect(page_a.locator("#messages li.message.own .body")).to_have_text([first])
    expect(page_b.locator("#messages li.message.own .body")).to_have_text([reply])

    # 5. Markup in a message is shown as text on the other side, never run.
    composer(page_a).fill(HOSTILE)
    composer(page_a).press("Enter")
    expect(composer(page_a)).to_have_value("")
    expected = [first, reply, HOSTILE]
    # Bob's socket has acknowledged his reply, so this one can only arrive by push.
    expect(bodies(page_b)).to_have_text(expected)
    expect(bodies(page_a)).to_have_text(expected)
    for page in (page_a, page_b):
        expect(page.locator("#messages img")).to_have_count(0)
    expect(senders(page_b)).to_have_text(["Alice", "Bob", "Alice"])

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_a.screenshot(path=SCREENSHOTS / "room-desktop.png")

    # 6. After a reload the server renders the same history, in order, still as text.
    response = page_b.reload()
    assert response is not None and response.ok
    html = response.text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE not in html
    expect(bodies(page_b)).to_have_text(expected)
    expect(senders(page_b)).to_have_text(["Alice", "Bob", "Alice"])
    expect(page_b.locator("#messages img")).to_have_count(0)

    page_b.screenshot(path=SCREENSHOTS / "room-phone.png")
    rooms_page = alice.open_page()
    rooms_page.goto("/")
    expect(rooms_page.get_by_role("link", name="Browser test room")).to_have_attribute(
        "href", f"/rooms/{room_id}"
    )
    rooms_page.screenshot(path=SCREENSHOTS / "rooms-desktop.png")

    # 7. Nothing went wrong in any page along the way.
    for person in (alice, bob):
        assert person.dialogs == [], f"{person.name} saw dialogs: {person.dialogs}"
        assert person.errors == [], f"{person.name}'s pages logged errors: {person.errors}"
