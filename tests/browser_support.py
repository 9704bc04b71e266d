"""Browser fixtures shared by the Playwright tests: headless Debian Chromium, people, pages.

Loaded as a pytest plugin from conftest.py, so every browser test gets the same
launch flags (the machine's closed network needs them) and the same record of
page errors, console errors and dialogs.
"""

from __future__ import annotations

import os
import re
import tempfile
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
# The committed screenshots are refreshed only on request, so a test run leaves the tree clean.
SCREENSHOTS = (
    PROJECT_DIR / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "chat-screenshots"
)
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
    page.get_by_label("Email").fill(
        unique_email(re.sub(r"[^a-z0-9]+", "", person.name.lower()) or "user")
    )
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


def create_room(page: Page, title: str) -> str:
    """Create a group room from the room list's form; returns its id (the page is in it)."""
    page.get_by_label("Room title").fill(title)
    page.get_by_role("button", name="Create room").click()
    expect(page).to_have_url(re.compile(rf"/rooms/{UUID}$"))
    return page.url.rsplit("/", 1)[1]


def join_by_link(page: Page, room_id: str) -> None:
    """Open a room's invite link and accept it."""
    page.goto(f"/rooms/{room_id}/join")
    page.get_by_role("button", name="Join room").click()
    expect(page).to_have_url(re.compile(rf"/rooms/{room_id}$"))
