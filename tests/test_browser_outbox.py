"""The browser's outbox: messages typed offline are kept, shown pending, and sent once.

A person goes offline (Playwright cuts the context's network), sends three
messages, reloads the page while still offline, and comes back: the messages
were kept in localStorage, are stored exactly once each, and the other person
sees them in order.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, WebSocketRoute, expect

from .browser_support import Person, bodies, composer, create_room, join_by_link, register

pytestmark = pytest.mark.browser


def _open_shared_room(owner: Person, guest: Person) -> tuple[Page, Page, str]:
    page_owner, page_guest = owner.open_page(), guest.open_page()
    register(owner, page_owner)
    register(guest, page_guest)
    room_id = create_room(page_owner, "Outbox room")
    join_by_link(page_guest, room_id)
    return page_owner, page_guest, room_id


def test_messages_sent_offline_survive_a_reload_and_are_stored_once(
    new_person: Callable[..., Person],
) -> None:
    mina, jun = new_person("Mina"), new_person("Jun")
    page_mina, page_jun, room_id = _open_shared_room(mina, jun)
    expect(page_mina.locator("#room")).to_have_attribute("data-connection", "synced")

    mina.context.set_offline(True)
    expect(page_mina.locator("#connection")).to_be_visible()
    texts = ["offline one", "offline two", "offline three"]
    for text in texts:
        composer(page_mina).fill(text)
        composer(page_mina).press("Enter")
    pending = page_mina.locator("#messages li.pending .body")
    expect(pending).to_have_text(texts)
    expect(composer(page_mina)).to_have_value("")

    # Reloading while offline fails: the page and its scripts are gone, only localStorage stays.
    with pytest.raises(PlaywrightError, match="ERR_INTERNET_DISCONNECTED"):
        page_mina.reload()
    expect(page_mina.locator("#room")).to_have_count(0)
    mina.context.set_offline(False)
    page_mina.goto(f"/rooms/{room_id}")
    expect(bodies(page_mina)).to_have_text(texts)
    expect(page_mina.locator("#messages li.pending")).to_have_count(0)
    expect(bodies(page_jun)).to_have_text(texts)

    history = _history_as(jun, page_jun, room_id)
    assert [m["body"] for m in history] == texts, "each stored once, in order"
    assert len({m["client_id"] for m in history}) == 3
    outbox = page_mina.evaluate("() => Object.keys(localStorage).map(k => localStorage.getItem(k))")
    assert all(item in ("[]", None) for item in outbox), f"outbox not emptied: {outbox}"
    assert jun.errors == [], jun.errors


def _history_as(person: Person, page: Page, room_id: str) -> list[dict]:
    """The stored history, fetched with the person's own session from their page."""
    response = page.request.get(f"{person.base_url}/api/rooms/{room_id}/messages")
    assert response.ok
    return response.json()["messages"]


_SENT = '"lost ack"'  # the body as it appears in a JSON frame


@pytest.mark.parametrize("other_tab", [False, True], ids=["alone", "with-another-tab"])
def test_a_message_whose_ack_never_comes_shows_as_sent_once_found_stored(
    new_person: Callable[..., Person], other_tab: bool
) -> None:
    """The sending socket gets its message in the ack only (no push back to it). When
    that ack is lost, the client's timeout catches the room up, finds the message stored,
    and shows it as sent: no failed or pending message lingers until the next reconnect.
    With another tab of the same person open, that tab hears the push and settles the
    shared outbox first; the sending tab still catches up and shows it."""
    mina, jun = new_person("Mina"), new_person("Jun")
    first_page, page_jun, room_id = _open_shared_room(mina, jun)
    if not other_tab:
        first_page.close()
    dropped: list[str] = []

    def drop_acks(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def to_page(message: str | bytes) -> None:
            # Only the send's ack (it carries the stored message): the sync at connect
            # has an ack too, and the upgrade to WebSocket can come before it arrives.
            if isinstance(message, str) and message.startswith("43") and _SENT in message:
                dropped.append(message)
                return
            route.send(message)

        server.on_message(to_page)

    page = mina.open_page()
    page.route_web_socket("**/socket.io/**", drop_acks)
    page.goto(f"/rooms/{room_id}")
    expect(page.locator("#room")).to_have_attribute("data-connection", "synced")
    # Upgraded from long-polling: the acks now come over the WebSocket that drops them.
    page.wait_for_function(
        "() => window.chatClient.socket.io.engine.transport.name === 'websocket'"
    )

    composer(page).fill("lost ack")
    composer(page).press("Enter")
    expect(bodies(page_jun)).to_have_text(["lost ack"])  # stored and pushed to the room
    # After the client's 10 s ack timeout, the catch-up finds it: shown once, as sent.
    expect(page.locator("#messages li.pending")).to_have_count(0, timeout=20_000)
    expect(bodies(page)).to_have_text(["lost ack"])
    assert dropped, "the ack was not dropped"
    outbox = page.evaluate("() => Object.keys(localStorage).map(k => localStorage.getItem(k))")
    assert all(item in ("[]", None) for item in outbox), f"outbox not emptied: {outbox}"
    assert [m["body"] for m in _history_as(jun, page_jun, room_id)] == ["lost ack"]
    assert mina.errors == [], mina.errors
