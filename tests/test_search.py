"""Message search, mentions and per-room mute, on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.both_databases


def _post(user, room_id: str, body: str) -> dict:
    response = user.call("POST", f"/api/rooms/{room_id}/messages", json={"body": body})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _search(user, query: str, **params) -> dict:
    response = user.call("GET", "/api/search", query_string={"q": query, **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _bodies(answer: dict) -> list[str]:
    return [result["message"]["body"] for result in answer["results"]]


def test_search_finds_words_newest_first_with_room_and_highlights(make_user) -> None:
    user = make_user("Mina")
    room = user.create_room("Planning")
    _post(user, room["id"], "The quarterly report is late")
    _post(user, room["id"], "Lunch at noon?")
    _post(user, room["id"], "Reporting lines changed; see the REPORT")
    answer = _search(user, "report")
    assert _bodies(answer) == [
        "Reporting lines changed; see the REPORT",
        "The quarterly report is late",
    ], "prefix match, case-insensitive, newest first"
    first = answer["results"][0]
    assert first["room"] == {"id": room["id"], "kind": "group", "title": "Planning"}
    assert first["message"]["sender"]["display_name"] == "Mina"
    body = first["message"]["body"]
    assert [body[h["start"] : h["end"]] for h in first["highlights"]] == ["Report", "REPORT"]
    assert answer["next_cursor"] is None
    assert _bodies(_search(user, "quarterly late")) == ["The quarterly report is late"]
    assert _search(user, "nothing-like-this")["results"] == []


def test_search_covers_only_rooms_the_user_is_in_now(make_user) -> None:
    owner, reader = make_user(), make_user()
    shared = owner.create_room("shared", member_ids=[reader.id])
    private = owner.create_room("private")
    _post(owner, shared["id"], "pineapple in the shared room")
    _post(owner, private["id"], "pineapple in the private room")
    assert _bodies(_search(reader, "pineapple")) == ["pineapple in the shared room"]
    assert reader.call("POST", f"/api/rooms/{shared['id']}/leave").status_code == 204
    assert _search(reader, "pineapple")["results"] == [], "a room left is never searched"
    response = reader.call(
        "GET", "/api/search", query_string={"q": "pineapple", "room_id": private["id"]}
    )
    assert response.status_code == 404
    only_private = _search(owner, "pineapple", room_id=private["id"])
    assert _bodies(only_private) == ["pineapple in the private room"]


def test_edited_message_is_found_by_its_new_words_only_and_deleted_never(make_user) -> None:
    user = make_user()
    room = user.create_room()
    edited = _post(user, room["id"], "meeting on tuesday")
    gone = _post(user, room["id"], "secret launch codes")
    user.call("PATCH", f"/api/messages/{edited['id']}", json={"body": "meeting on thursday"})
    user.call("DELETE", f"/api/messages/{gone['id']}")
    assert _search(user, "tuesday")["results"] == []
    assert _bodies(_search(user, "thursday")) == ["meeting on thursday"]
    assert _search(user, "secret")["results"] == []
    assert _search(user, "launch codes")["results"] == []


def test_results_are_paged_without_repeats(make_user) -> None:
    user = make_user()
    room = user.create_room()
    for n in range(23):
        _post(user, room["id"], f"needle number {n}")
    seen, cursor = [], None
    while True:
        params = {"limit": 5, **({"before": cursor} if cursor else {})}
        answer = _search(user, "needle", **params)
        seen += [result["message"]["id"] for result in answer["results"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 23 and len(set(seen)) == 23
    assert seen == sorted(seen, reverse=True)


def test_korean_is_found_by_a_two_character_query(make_user) -> None:
    user = make_user("민아")
    room = user.create_room("한국어")
    _post(user, room["id"], "안녕하세요 여러분, 회의는 내일입니다")
    _post(user, room["id"], "다른 이야기")
    answer = _search(user, "안녕")
    assert _bodies(answer) == ["안녕하세요 여러분, 회의는 내일입니다"]
    body = answer["results"][0]["message"]["body"]
    assert [body[h["start"] : h["end"]] for h in answer["results"][0]["highlights"]] == ["안녕"]
    assert _bodies(_search(user, "회의")) == ["안녕하세요 여러분, 회의는 내일입니다"]


def test_bad_search_input_is_400_and_operators_are_plain_text(make_user) -> None:
    user = make_user()
    room = user.create_room()
    _post(user, room["id"], 'quotes " and NEAR(stars*) OR things')
    for params in [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "a", "limit": 0}]:
        response = user.call("GET", "/api/search", query_string=params)
        assert response.status_code == 400, params
    response = user.call("GET", "/api/search", query_string={"q": "!!! ---"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "empty_query"
    for hostile in ['"', "NEAR(stars", "stars* OR", "AND", ":*", "&|!"]:
        response = user.call("GET", "/api/search", query_string={"q": hostile + " things"})
        assert response.status_code in (200, 400), hostile
    assert _bodies(_search(user, "near stars")) == ['quotes " and NEAR(stars*) OR things']


def test_history_around_a_message_centres_the_page(make_user) -> None:
    user = make_user()
    room = user.create_room()
    for n in range(1, 31):
        _post(user, room["id"], f"m{n}")
    page = user.call("GET", f"/api/rooms/{room['id']}/messages?around=15&limit=10").get_json()
    assert [m["seq"] for m in page["messages"]] == list(range(10, 20))
    start = user.call("GET", f"/api/rooms/{room['id']}/messages?around=2&limit=10").get_json()
    assert [m["seq"] for m in start["messages"]] == list(range(1, 11)), "filled from after"
    bad = user.call("GET", f"/api/rooms/{room['id']}/messages?around=5&before=9")
    assert bad.status_code == 400


def test_mentions_are_recorded_counted_apart_and_follow_edits(make_user) -> None:
    owner, mina, jun = make_user("Owner"), make_user("Mina Kim"), make_user("Jun")
    room = owner.create_room("team", member_ids=[mina.id, jun.id])
    plain = _post(owner, room["id"], "hello everyone")
    pinged = _post(owner, room["id"], "@mina kim can you look? and @Ju isn't a name")
    assert plain["mentions"] == []
    assert pinged["mentions"] == [mina.id]
    seen_by_mina = mina.call("GET", f"/api/rooms/{room['id']}").get_json()
    assert (seen_by_mina["unread_count"], seen_by_mina["mention_count"]) == (2, 1)
    seen_by_jun = jun.call("GET", f"/api/rooms/{room['id']}").get_json()
    assert (seen_by_jun["unread_count"], seen_by_jun["mention_count"]) == (2, 0)
    edited = owner.call(
        "PATCH", f"/api/messages/{pinged['id']}", json={"body": "@Jun, never mind"}
    ).get_json()
    assert edited["mentions"] == [jun.id]
    assert mina.call("GET", f"/api/rooms/{room['id']}").get_json()["mention_count"] == 0
    mina.call("POST", f"/api/rooms/{room['id']}/read", json={"seq": 2})
    jun.call("POST", f"/api/rooms/{room['id']}/read", json={"seq": 2})
    assert jun.call("GET", f"/api/rooms/{room['id']}").get_json()["mention_count"] == 0
    self_ping = _post(owner, room["id"], "@Owner talking to myself")
    assert self_ping["mentions"] == []


def test_pages_read_back_each_messages_mentions(make_user) -> None:
    """History, catch-up and an edit's new mentions, as the pages read them from the
    database (one query for rows and mentions), not as the send answered them."""
    owner, mina, jun, ada = (make_user(name) for name in ("Owner", "Mina", "Jun", "Ada"))
    room = owner.create_room("team", member_ids=[mina.id, jun.id, ada.id])
    both = _post(owner, room["id"], "@Jun and @Mina, and @Ada too")
    _post(owner, room["id"], "nobody named")
    one = _post(mina, room["id"], "@Owner ok")
    everyone = sorted([mina.id, jun.id, ada.id], key=uuid.UUID)
    assert both["mentions"] == everyone
    expected = {1: everyone, 2: [], 3: [owner.id]}
    history = jun.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert {m["seq"]: m["mentions"] for m in history} == expected
    changes = ada.call("GET", f"/api/rooms/{room['id']}/changes?since=0").get_json()
    assert {m["seq"]: m["mentions"] for m in changes["messages"]} == expected
    owner.call("PATCH", f"/api/messages/{both['id']}", json={"body": "only @ada now"})
    mina.call("PATCH", f"/api/messages/{one['id']}", json={"body": "never mind"})
    history = jun.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert {m["seq"]: m["mentions"] for m in history} == {1: [ada.id], 2: [], 3: []}
    assert owner.call("DELETE", f"/api/messages/{both['id']}").status_code == 200
    history = jun.call("GET", f"/api/rooms/{room['id']}/messages").get_json()["messages"]
    assert {m["seq"]: m["mentions"] for m in history} == {1: [], 2: [], 3: []}


def test_mute_is_a_per_member_setting(make_user) -> None:
    owner, member = make_user(), make_user()
    room = owner.create_room(member_ids=[member.id])
    path = f"/api/rooms/{room['id']}/settings"
    muted = member.call("PATCH", path, json={"muted": True})
    assert muted.status_code == 200 and muted.get_json()["muted"] is True
    assert member.call("GET", "/api/rooms").get_json()["rooms"][0]["muted"] is True
    assert owner.call("GET", f"/api/rooms/{room['id']}").get_json()["muted"] is False
    for payload in [{}, {"muted": "yes please"}, {"muted": None}]:
        assert member.call("PATCH", path, json=payload).status_code == 400, payload
    stranger = make_user()
    assert stranger.call("PATCH", path, json={"muted": True}).status_code == 404
    assert (
        owner.call("PATCH", f"/api/rooms/{uuid.uuid4()}/settings", json={"muted": True}).status_code
        == 404
    )
