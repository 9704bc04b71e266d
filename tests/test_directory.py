"""The user directory: search by name in any case and script, cursor pages, presence."""

from __future__ import annotations

import uuid

import pytest

from chat.extensions import socketio
from chat.services import presence, realtime, socket_registry

from .conftest import InProcessUser
from .support import wait_until


def users(viewer: InProcessUser, **params) -> dict:
    response = viewer.call("GET", "/api/users", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def names(page: dict) -> list[str]:
    return [user["display_name"] for user in page["users"]]


def walk(viewer: InProcessUser, **params) -> list[list[str]]:
    """Every page of a search, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        page = users(viewer, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(names(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def test_search_finds_by_prefix_in_any_case_prefix_matches_first(make_user) -> None:
    viewer = make_user("Viewer")
    for name in ["Marianne", "maria", "Anna Maria", "MARIO", "Bob", "Amaryllis"]:
        make_user(name)
    assert names(users(viewer, q="mar")) == [
        "maria",
        "Marianne",
        "MARIO",
        "Amaryllis",
        "Anna Maria",
    ]
    assert names(users(viewer, q="MARI")) == ["maria", "Marianne", "MARIO", "Anna Maria"]
    assert names(users(viewer, q="  bo ")) == ["Bob"]
    assert names(users(viewer, q="ria")) == ["Anna Maria", "maria", "Marianne"]
    assert users(viewer, q="zzz") == {"users": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("김민수", "김민"),
        ("이서연 🌸", "🌸"),
        ("Straße", "STRASSE"),
        ("ΣΟΦΊΑ", "σοφία"),
        # "Fullwidth" in full-width letters.
        ("\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48", "fullw"),
        ("محمد علي", "محمد"),
        ("100% real_name", "0% r"),
        ("under_score", "r_s"),
    ],
)
def test_search_folds_case_and_width_in_every_script(make_user, stored: str, query: str) -> None:
    viewer = make_user("Viewer")
    make_user(stored)
    make_user("someone else")
    assert names(users(viewer, q=query)) == [stored]


def test_wildcards_in_the_query_are_plain_characters(make_user) -> None:
    viewer = make_user("Viewer")
    make_user("abc")
    assert names(users(viewer, q="%")) == []
    assert names(users(viewer, q="_")) == []
    assert names(users(viewer, q="a_c")) == []


def test_pages_cover_everyone_once_without_repeats(make_user) -> None:
    viewer = make_user("Viewer")
    expected = [f"Member {n:02d}" for n in range(11)] + ["Member 05"]  # a duplicate name, too
    for name in expected:
        make_user(name)
    pages = walk(viewer, q="member", limit=3)
    assert [len(page) for page in pages] == [3, 3, 3, 3]
    flat = [name for page in pages for name in page]
    assert sorted(flat) == sorted(expected)
    ids = []
    cursor = None
    while True:
        page = users(viewer, q="member", limit=5, **({"cursor": cursor} if cursor else {}))
        ids += [user["id"] for user in page["users"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(ids) == len(set(ids)) == 12


def test_an_empty_query_lists_everyone_by_name(make_user) -> None:
    viewer = make_user("Viewer")
    for name in ["carol", "Alice", "bob"]:
        make_user(name)
    assert walk(viewer, limit=2) == [["Alice", "bob"], ["carol", "Viewer"]]


def test_a_rename_between_pages_neither_repeats_nor_loses_the_others(make_user) -> None:
    viewer = make_user("Viewer")
    people = {name: make_user(name) for name in ["Ann", "Ben", "Cal", "Dee"]}
    first = users(viewer, limit=2)
    assert names(first) == ["Ann", "Ben"]
    people["Ann"].call("PATCH", "/api/me", json={"display_name": "Zed"})
    rest = users(viewer, limit=10, cursor=first["next_cursor"])
    assert names(rest) == ["Cal", "Dee", "Viewer", "Zed"]


def test_entries_show_avatar_name_and_presence_but_never_email(make_user) -> None:
    viewer = make_user("Viewer")
    make_user("Alice", email="alice-secret@example.org")
    page = users(viewer, q="alice")
    assert len(page["users"]) == 1
    entry = page["users"][0]
    assert set(entry) == {"id", "display_name", "avatar_url", "created_at", "online"}
    assert entry["online"] is False
    assert entry["avatar_url"].startswith("/avatars/")
    assert "alice-secret" not in str(page)
    assert names(users(viewer, q="alice-secret")) == [], "emails are not searchable"
    html = viewer.client.get("/people?q=alice").get_data(as_text=True)
    assert "alice-secret" not in html


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"cursor": "garbage"},
        {"cursor": "W10"},  # base64 of "[]"
        {"q": "x" * 51},
    ],
)
def test_bad_queries_are_400(make_user, params: dict) -> None:
    viewer = make_user("Viewer")
    response = viewer.call("GET", "/api/users", query_string=params)
    assert response.status_code == 400, params
    assert response.get_json()["error"] == "invalid"


def test_a_cursor_belongs_to_its_search(make_user) -> None:
    viewer = make_user("Viewer")
    for n in range(3):
        make_user(f"Amy {n}")
    cursor = users(viewer, q="amy", limit=1)["next_cursor"]
    assert cursor
    response = viewer.call("GET", "/api/users", query_string={"q": "vie", "cursor": cursor})
    assert response.status_code == 400


def test_directory_needs_a_login(client) -> None:
    assert client.get("/api/users").status_code == 401
    assert client.get("/people").status_code == 302


def test_directory_page_searches_and_pages(make_user) -> None:
    viewer = make_user("Viewer")
    for n in range(25):
        make_user(f"Pat {n:02d}")
    page = viewer.client.get("/people?q=pat")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('class="person"') == 20
    assert "Pat 00" in html and "Pat 20" not in html
    more = viewer.client.get(html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&"))
    more_html = more.get_data(as_text=True)
    assert more_html.count('class="person"') == 5 and "Pat 24" in more_html
    assert 'rel="next"' not in more_html
    # A stale cursor falls back to the first page rather than failing.
    assert viewer.client.get("/people?q=pat&cursor=bogus").status_code == 200


@pytest.mark.server
def test_online_means_an_open_socket_now(make_api_user) -> None:
    alice, bob = make_api_user("Alice"), make_api_user("Bob")

    def seen_online() -> bool:
        return bob.request("GET", f"/api/users/{alice.id}").json()["online"]

    assert seen_online() is False
    tab1, tab2 = alice.socket("websocket"), alice.socket("polling")
    assert seen_online() is True
    query = {"q": "alice", "limit": 100}
    listed = bob.request("GET", "/api/users", params=query).json()["users"]
    assert any(user["id"] == alice.id and user["online"] for user in listed)
    tab1.disconnect()
    assert seen_online() is True, "one tab is still open"
    tab2.disconnect()
    wait_until(lambda: seen_online() is False, timeout=5)


def test_a_socket_that_is_closing_no_longer_counts_as_online(app, make_user) -> None:
    """Two tabs closing at once: the second to close must see the first as gone.

    python-socketio keeps a closing socket in its rooms while its disconnect handler
    runs; with Redis that handler yields, so the other tab's handler can run
    meanwhile. Here the first tab is held in that state (``pre_disconnect``, what
    python-socketio does first) while the second closes.
    """
    watcher, friend = make_user("Watcher"), make_user("Friend")
    watcher.create_room(member_ids=[friend.id])
    watcher_socket = socketio.test_client(app, flask_test_client=watcher.client)
    closing, last = (socketio.test_client(app, flask_test_client=friend.client) for _ in range(2))
    friend_id = uuid.UUID(friend.id)

    def friend_states() -> list[bool]:
        return [
            user["online"]
            for event in watcher_socket.get_received()
            if event["name"] == "presence"
            for batch in event["args"]
            for user in batch["users"]
            if user["user_id"] == friend.id
        ]

    heard: list[bool] = []
    wait_until(lambda: heard.extend(friend_states()) or heard == [True])
    manager = socketio.server.manager
    closing_sid = manager.sid_from_eio_sid(closing.eio_sid, "/")
    manager.pre_disconnect(closing_sid, "/")
    with app.app_context():
        assert presence.is_online(friend_id), "the other tab is open"
        last.disconnect()
        assert not presence.is_online(friend_id)
    wait_until(lambda: heard.extend(friend_states()) or heard == [True, False])
    manager.pending_disconnect["/"].remove(closing_sid)  # let it close for real
    closing.disconnect()
    assert not manager.is_connected(closing_sid, "/")
    watcher_socket.disconnect()


def test_a_socket_that_is_still_connecting_counts_as_open(app, make_user) -> None:
    """A socket is in its user's channel from early in its connect handler, before
    python-socketio calls it connected, so that a room joined meanwhile reaches it: it
    must count as open (online, and found by ``subscribe_user``) from then on."""
    user = make_user("Connecting")
    tab = socketio.test_client(app, flask_test_client=user.client)
    manager = socketio.server.manager
    sid = manager.sid_from_eio_sid(tab.eio_sid, "/")
    manager.pending_connect.setdefault("/", []).append(sid)  # as during its connect handler
    try:
        with app.app_context():
            assert presence.is_online(uuid.UUID(user.id))
            assert socket_registry.current().sids(realtime.user_channel(user.id)) == [sid]
    finally:
        manager.pending_connect["/"].remove(sid)
        tab.disconnect()
