"""The chat UI end to end, in real headless Chromium, with three people at once.

Register, create a room, join by link, talk both ways live, see the other typing,
watch an unread badge count up and clear, edit and delete live, see markup shown
as text and links made clickable, reload to the same history, and lose the
network: the banner shows, and what was missed appears on return.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

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
)

pytestmark = pytest.mark.browser


def send(page: Page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")
    expect(composer(page)).to_have_value("")


def room_entry(page: Page, room_id: str):
    return page.locator(f'#room-list li[data-room-id="{room_id}"]')


def message(page: Page, text: str):
    return page.locator("#messages li.message", has=page.locator(".body", has_text=text))


def test_three_people_use_the_chat_ui(new_person: Callable[..., Person]) -> None:
    alice, bob, carol = new_person("Alice", DESKTOP), new_person("Bob", PHONE), new_person("Carol")
    page_a, page_b, page_c = alice.open_page(), bob.open_page(), carol.open_page()
    for person, page in ((alice, page_a), (bob, page_b), (carol, page_c)):
        register(person, page)

    # Alice creates a room; Bob and Carol join by its link.
    page_a.get_by_label("Room title").fill("Team")
    page_a.get_by_role("button", name="Create room").click()
    expect(page_a).to_have_url(re.compile(rf"/rooms/{UUID}$"))
    room_id = page_a.url.rsplit("/", 1)[1]
    invite = page_a.get_by_label("Invite link").input_value()
    for page in (page_b, page_c):
        page.goto(invite)
        page.get_by_role("button", name="Join room").click()
        expect(page).to_have_url(re.compile(rf"/rooms/{room_id}$"))
    expect(page_a.locator("#member-count")).to_have_text("3")

    # Messages both ways, live.
    send(page_a, "Morning, team!")
    expect(bodies(page_b)).to_have_text(["Morning, team!"])
    send(page_b, "Morning Alice")
    expect(bodies(page_a)).to_have_text(["Morning, team!", "Morning Alice"])
    # Consecutive messages of one sender are grouped under one name.
    send(page_b, "coffee at ten?")
    expect(message(page_a, "coffee at ten?")).to_have_class(re.compile(r"\bgrouped\b"))
    expect(page_a.locator("#messages li.day-separator")).to_have_text(["Today"])

    # Typing is seen by the others, and expires when the message arrives.
    composer(page_b).press_sequentially("Let me che")
    expect(page_a.locator("#typing")).to_have_text("Bob is typing…")
    send(page_b, "Let me check")
    expect(page_a.locator("#typing")).to_have_text("")

    # Carol has seen everything so far (her open room marked it read).
    expect(bodies(page_c)).to_have_count(4)
    expect(page_c.locator("#room")).to_have_attribute("data-read-seq", "4")
    # Carol goes to her room list: new messages count up in the sidebar badge.
    page_c.goto("/")
    badge = room_entry(page_c, room_id).locator(".unread-badge")
    expect(room_entry(page_c, room_id)).to_be_visible()
    expect(page_c.locator("#room-list")).to_have_attribute("data-live", "true")
    expect(badge).to_be_hidden()
    send(page_a, "Carol, are you there?")
    expect(badge).to_have_text("1")
    send(page_a, "Ping https://example.org/agenda")
    expect(badge).to_have_text("2")
    expect(room_entry(page_c, room_id).locator(".room-preview")).to_have_text(
        "Alice: Ping https://example.org/agenda"
    )
    room_entry(page_c, room_id).get_by_role("link").click()
    expect(page_c).to_have_url(re.compile(rf"/rooms/{room_id}$"))
    expect(room_entry(page_c, room_id).locator(".unread-badge")).to_be_hidden()
    page_c.goto("/")
    expect(room_entry(page_c, room_id).locator(".unread-badge")).to_be_hidden()
    page_c.goto(f"/rooms/{room_id}")

    # Links are clickable, and only http(s) ones.
    link = message(page_b, "Ping").locator(".body a")
    expect(link).to_have_attribute("href", "https://example.org/agenda")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")

    # Edit and delete, seen live by the others.
    own = message(page_a, "Carol, are you there?")
    own.hover()
    own.get_by_role("button", name="Edit message").click()
    editor = own.get_by_label("Edited text")
    editor.fill("Carol, are you around?")
    editor.press("Enter")
    expect(message(page_b, "Carol, are you around?").locator(".edited")).to_have_text("(edited)")
    gone = message(page_a, "Ping")
    gone.hover()
    gone.get_by_role("button", name="Delete message").click()
    gone.get_by_role("button", name="Yes, delete").click()
    for page in (page_b, page_c):
        expect(page.locator("#messages li.message.deleted .body")).to_have_text(["message deleted"])
        expect(page.get_by_text("https://example.org/agenda")).to_have_count(0)

    # Markup is text.
    send(page_c, HOSTILE)
    for page in (page_a, page_b):
        expect(message(page, HOSTILE)).to_have_count(1)
        expect(page.locator("#messages .body img")).to_have_count(0)

    expected = [
        "Morning, team!",
        "Morning Alice",
        "coffee at ten?",
        "Let me check",
        "Carol, are you around?",
        "message deleted",
        HOSTILE,
    ]
    expect(bodies(page_a)).to_have_text(expected)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_a.screenshot(path=SCREENSHOTS / "chat-desktop.png")

    # A reload shows the same history.
    page_b.reload()
    expect(bodies(page_b)).to_have_text(expected)
    page_b.screenshot(path=SCREENSHOTS / "chat-phone.png")

    # Offline: the banner shows; back online, what was missed appears.
    bob.context.set_offline(True)
    expect(page_b.locator("#connection")).to_be_visible()
    send(page_a, "You missed this one")
    send(page_c, "And this one")
    bob.context.set_offline(False)
    expect(page_b.locator("#connection")).to_be_hidden()
    expect(bodies(page_b)).to_have_text([*expected, "You missed this one", "And this one"])

    for person in (alice, carol):
        assert person.dialogs == [], f"{person.name} saw dialogs: {person.dialogs}"
        assert person.errors == [], f"{person.name}'s pages logged errors: {person.errors}"
    assert bob.dialogs == []
