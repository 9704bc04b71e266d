"""The product's acceptance check, in a real browser: a person can register and chat from the pages.

The API and socket tests prove the server's contract; only a browser proves that the
HTML forms, the invite link and ``static/js/room.js`` put that contract in people's
hands. Two people, each in their own browser context (own cookies), go through the
pages as a person would: register, create a room, share and open its invite link,
chat live both ways, and reload. Along the way the test checks that a message is
shown as text and never run as HTML, and that no page logs an error.

It drives headless Chromium (Debian's ``/usr/bin/chromium``, not a Playwright
download) through Playwright's sync API against the real gunicorn + gevent server,
and saves screenshots of the pages (to ``docs/screenshots`` with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from .browser_support import (
    DESKTOP,
    HOSTILE,
    PHONE,
    SCREENSHOTS,
    UUID,
    Person,
    bodies,
    composer,
    register,
    senders,
)

pytestmark = pytest.mark.browser


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
        expect(page.locator("#messages .body img")).to_have_count(0)
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
    expect(page_b.locator("#messages .body img")).to_have_count(0)

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
