"""Finding and noticing, in real headless Chromium: search, mentions, notifications.

The page-visibility and Notification APIs are observed through an init script:
headless Chromium has no real background tab, so the test sets a flag that makes
``document.hidden`` true and records every ``new Notification(...)`` the page makes
(the permission itself is granted to the context through Playwright).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .browser_support import Person, composer, create_room, join_by_link, register

pytestmark = pytest.mark.browser

OBSERVE = """
(() => {
  window.__forceHidden = false;
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return window.__forceHidden; } });
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return window.__forceHidden ? "hidden" : "visible"; } });
  window.__notifications = [];
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: (options || {}).body || "" });
    }
  }
  window.Notification = Recorded;
})();
"""


def post_via_api(page: Page, room_id: str, bodies: list[str]) -> None:
    """Send many messages from the page's own session (faster than typing each)."""
    page.evaluate(
        """async ([roomId, bodies]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            for (const body of bodies) {
              const response = await fetch(`/api/rooms/${roomId}/messages`, {
                method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                body: JSON.stringify({body}),
              });
              if (!response.ok) throw new Error(await response.text());
            }
        }""",
        [room_id, bodies],
    )


def hide(page: Page) -> None:
    page.evaluate(
        "window.__forceHidden = true; document.dispatchEvent(new Event('visibilitychange'))"
    )


def test_search_mentions_and_notifications(new_person: Callable[..., Person]) -> None:
    mina, jun = new_person("Mina"), new_person("Jun Park")
    jun.context.grant_permissions(["notifications"], origin=jun.base_url)
    jun.context.add_init_script(OBSERVE)
    page_m, page_j = mina.open_page(), jun.open_page()
    register(mina, page_m)
    register(jun, page_j)
    room_id = create_room(page_m, "Project")
    join_by_link(page_j, room_id)

    # 60 messages; the one to find is old enough not to be on the room's first page.
    history = [f"status update {n}" for n in range(1, 61)]
    history[4] = "the launch checklist is ready for review"
    post_via_api(page_m, room_id, history)

    # Search from the top bar; the result names the room and marks the word.
    page_j.get_by_label("Search messages").fill("checklist")
    page_j.get_by_label("Search messages").press("Enter")
    result = page_j.locator("#search-results li")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text("checklist")
    expect(result.locator(".result-room")).to_have_text("Project")
    result.get_by_role("link").click()
    expect(page_j).to_have_url(re.compile(rf"/rooms/{room_id}\?around=5#message-5$"))
    target = page_j.locator("#message-5")
    expect(target).to_have_class(re.compile(r"\bhighlighted\b"))
    expect(target.locator(".body")).to_have_text("the launch checklist is ready for review")
    expect(target).to_be_in_viewport()
    expect(page_j.locator("#jump-latest")).to_be_visible()

    # Jun goes to the room list; Mina mentions him using the composer's autocomplete.
    page_j.goto("/")
    entry = page_j.locator(f'#room-list li[data-room-id="{room_id}"]')
    expect(page_j.locator("#room-list")).to_have_attribute("data-live", "true")
    composer(page_m).press_sequentially("@Ju")
    suggestion = page_m.get_by_role("option", name="Jun Park")
    expect(suggestion).to_be_visible()
    composer(page_m).press("Enter")
    expect(composer(page_m)).to_have_value("@Jun Park ")
    composer(page_m).press_sequentially("can you check the list?")
    composer(page_m).press("Enter")
    expect(entry.locator(".mention-badge")).to_have_text("@1")
    expect(entry.locator(".unread-badge")).to_have_text("1")
    expect(page_j).to_have_title(re.compile(r"^\(1\) "))

    # In the room, the mention is highlighted for Jun.
    entry.get_by_role("link").click()
    mention = page_j.locator("#messages li.mentions-me")
    expect(mention.locator(".body")).to_have_text("@Jun Park can you check the list?")
    expect(entry.locator(".mention-badge")).to_be_hidden()

    # With the tab hidden, a mention raises a notification; a plain message does not.
    page_j.goto("/")
    expect(page_j.locator("#room-list")).to_have_attribute("data-live", "true")
    hide(page_j)
    post_via_api(page_m, room_id, ["just chatting", "@Jun Park ping from the hidden tab"])
    expect(entry.locator(".unread-badge")).to_have_text("2")
    notes = page_j.evaluate("window.__notifications")
    assert notes == [{"title": "Mina in Project", "body": "@Jun Park ping from the hidden tab"}]

    # Muted: no notification, though the counts still move.
    page_j.evaluate("window.__forceHidden = false")
    page_j.goto(f"/rooms/{room_id}")
    page_j.get_by_role("button", name="Mute").click()
    expect(page_j.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")
    page_j.goto("/")
    expect(page_j.locator("#room-list")).to_have_attribute("data-live", "true")
    hide(page_j)
    post_via_api(page_m, room_id, ["@Jun Park while muted"])
    expect(entry.locator(".unread-badge")).to_have_text("1")
    assert page_j.evaluate("window.__notifications") == []

    for person in (mina, jun):
        assert person.errors == [], f"{person.name}'s pages logged errors: {person.errors}"
