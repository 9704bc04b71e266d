"""Search input that tokenisers treat differently must never reach the database as syntax."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.both_databases

ODD_QUERIES = [
    "_",
    "__init__",
    "a_b",
    "'",
    "''",
    "x'y",
    "é",
    "ß",
    "١٢٣",
    "ǅ",
    "\u0301",
    "a\u0000b",
    "😀",
    "*",
    "-",
    "NOT",
    "OR AND",
    "x:*",
    "x & y",
    "(x)",
]


def test_odd_queries_answer_200_or_400_never_500(make_user) -> None:
    user = make_user()
    room = user.create_room()
    user.call(
        "POST", f"/api/rooms/{room['id']}/messages", json={"body": "a_b __init__ x'y é ß ١٢٣"}
    )
    for query in ODD_QUERIES:
        response = user.call("GET", "/api/search", query_string={"q": query})
        assert response.status_code in (200, 400), (query, response.get_data(as_text=True))
