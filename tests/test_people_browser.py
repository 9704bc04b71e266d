"""People, in a real browser: edit one's name, upload a photo and see it, find someone in
the directory, open the conversation with them and exchange messages.

Two people, each in their own Chromium context (own cookies), against the real
gunicorn + gevent server. Bob keeps his room list open the whole time: the direct
room Alice opens must appear there by itself (``room_created``), and Alice's later
rename must follow it there (``user_updated``), without a reload.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from . import images
from .browser_support import (
    SCREENSHOTS,
    UUID,
    Person,
    bodies,
    composer,
    create_room,
    join_by_link,
    register,
)

pytestmark = pytest.mark.browser

STORED_AVATAR = re.compile(r"/avatars/[0-9a-f]{64}\.webp$")


def image_loaded(page: Page, selector: str, width: int) -> None:
    """Wait until the image at ``selector`` has really loaded at ``width`` pixels."""
    page.wait_for_function(
        "([selector, width]) => { const img = document.querySelector(selector);"
        " return img && img.complete && img.naturalWidth === width; }",
        arg=[selector, width],
    )


def test_profile_directory_and_a_direct_conversation(new_person: Callable[..., Person]) -> None:
    tag = uuid.uuid4().hex[:6]
    alice, bob = new_person(f"Alice{tag}"), new_person(f"Bob{tag}")
    page_a, page_b = alice.open_page(), bob.open_page()
    register(alice, page_a)
    register(bob, page_b)
    # Bob stays on his room list, its socket connected.
    expect(page_b.locator("#room-list")).to_have_attribute("data-live", "true")

    # 1. Alice edits her name (Korean and an emoji) from the nav's Profile link.
    new_name = f"앨리스 🌸 {tag}"
    page_a.get_by_role("link", name="Profile", exact=True).click()
    expect(page_a.get_by_role("heading", name="Your profile")).to_be_visible()
    page_a.get_by_label("Display name").fill(new_name)
    page_a.get_by_role("button", name="Save name").click()
    expect(page_a.get_by_role("alert")).to_have_text("Your name was changed.")
    expect(page_a.locator(".whoami")).to_have_text(new_name)
    expect(page_a.get_by_label("Display name")).to_have_value(new_name)

    # 2. She uploads a photo and sees it, as a loaded 256 px square.
    default_src = page_a.locator("#profile-avatar").get_attribute("src")
    assert default_src and default_src.endswith(".svg")
    image_loaded(page_a, "#profile-avatar", 256)  # the generated default loads too
    page_a.get_by_label("New photo").set_input_files(
        files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg((640, 480))}]
    )
    page_a.get_by_role("button", name="Upload photo").click()
    expect(page_a.get_by_role("alert")).to_have_text("Your photo was changed.")
    expect(page_a.locator("#profile-avatar")).to_have_attribute("src", STORED_AVATAR)
    image_loaded(page_a, "#profile-avatar", 256)
    photo_src = page_a.locator("#profile-avatar").get_attribute("src")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_a.screenshot(path=SCREENSHOTS / "profile-desktop.png")
    expect(page_a.locator("#my-avatar")).to_have_attribute("src", photo_src or "")

    # 3. She finds Bob in the directory by the start of his name, in another case.
    page_a.get_by_role("link", name="People", exact=True).click()
    page_a.get_by_label("Search by name").fill(f"bob{tag}".upper()[:6])
    page_a.get_by_role("button", name="Search").click()
    entry = page_a.locator("#people li", has_text=bob.name)
    expect(entry).to_have_count(1)
    expect(entry.locator(".presence")).to_have_text("Online")  # his room list is open
    page_a.screenshot(path=SCREENSHOTS / "people-desktop.png")

    # 4. "Message" opens their conversation.
    entry.get_by_role("button", name=f"Message {bob.name}").click()
    expect(page_a).to_have_url(re.compile(rf"/rooms/{UUID}$"))
    room_id = page_a.url.rsplit("/", 1)[1]

    # 5. It appears in Bob's open room list at once, titled with Alice's name and photo.
    link_b = page_b.get_by_role("link", name=new_name)
    expect(link_b).to_have_attribute("href", f"/rooms/{room_id}")
    expect(link_b.locator("img.avatar")).to_have_attribute("src", photo_src or "")
    image_loaded(page_b, f'li[data-room-id="{room_id}"] img.avatar', 256)
    page_b.screenshot(path=SCREENSHOTS / "rooms-with-direct-desktop.png")

    # 6. A rename follows it there live.
    renamed = f"Alice {tag}"
    page_a.goto("/profile")
    page_a.get_by_label("Display name").fill(renamed)
    page_a.get_by_role("button", name="Save name").click()
    expect(page_a.locator(".whoami")).to_have_text(renamed)
    expect(page_b.get_by_role("link", name=renamed)).to_have_attribute("href", f"/rooms/{room_id}")

    # 7. They exchange messages in the direct room.
    page_a.goto(f"/rooms/{room_id}")
    page_b.get_by_role("link", name=renamed).click()
    expect(page_b).to_have_url(bob.url(f"/rooms/{room_id}"))
    first = f"안녕, {bob.name}!"
    composer(page_a).fill(first)
    composer(page_a).press("Enter")
    expect(composer(page_a)).to_have_value("")
    expect(bodies(page_b)).to_have_text([first])
    reply = "Hi Alice, got your message."
    composer(page_b).fill(reply)
    page_b.get_by_role("button", name="Send").click()
    expect(bodies(page_a)).to_have_text([first, reply])
    expect(bodies(page_b)).to_have_text([first, reply])

    # 8. Bob sees her profile, with her photo.
    page_b.goto(f"/people/{alice_id(page_a)}")
    expect(page_b.get_by_role("heading", name=renamed)).to_be_visible()
    expect(page_b.get_by_role("img", name=f"Photo of {renamed}")).to_have_attribute(
        "src", photo_src or ""
    )
    image_loaded(page_b, ".profile-card img.avatar", 256)

    for person in (alice, bob):
        assert person.dialogs == [], f"{person.name} saw dialogs: {person.dialogs}"
        assert person.errors == [], f"{person.name}'s pages logged errors: {person.errors}"


def alice_id(page: Page) -> str:
    user_id = page.locator(".whoami").get_attribute("data-user-id")
    assert user_id
    return user_id


def test_presence_dots_follow_a_member_leaving_and_coming_back(
    new_person: Callable[..., Person],
) -> None:
    """The batched ``presence`` event reaches the dots: Bob closes his last tab, then returns."""
    tag = uuid.uuid4().hex[:6]
    alice, bob = new_person(f"Alice{tag}"), new_person(f"Bob{tag}")
    page_a, page_b = alice.open_page(), bob.open_page()
    register(alice, page_a)
    register(bob, page_b)
    room_id = create_room(page_a, f"Presence {tag}")
    join_by_link(page_b, room_id)
    bob_member = page_a.locator("#members li", has_text=bob.name)
    expect(bob_member).to_have_count(1)
    bob_dot = bob_member.locator(".presence-dot")
    online = re.compile(r"\bonline\b")
    expect(bob_dot).to_have_class(online)

    # A tab that leaves while still on long-polling (before the upgrade) cannot say so:
    # the browser aborts its requests, and the server notices at the ping timeout. On
    # the WebSocket, leaving closes the connection at once.
    page_b.wait_for_function(
        "() => window.chatClient?.socket.io.engine?.transport?.name === 'websocket'"
    )
    page_b.goto("about:blank")  # his only tab leaves the app: he goes offline
    expect(bob_dot).not_to_have_class(online)
    expect(bob_dot).to_have_attribute("title", "Offline")

    page_b.goto("/")  # back, on his room list
    expect(bob_dot).to_have_class(online)
