"""The search page: results rendered on the server, the matched words marked."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from ..errors import ServiceError
from ..services import search

bp = Blueprint("search", __name__)

PAGE = 20


def segments(body: str, highlights: list[dict[str, int]]) -> list[tuple[str, bool]]:
    """The body cut into ``(text, is_match)`` pieces for the template to escape and mark."""
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for span in highlights:
        if span["start"] > cursor:
            pieces.append((body[cursor : span["start"]], False))
        pieces.append((body[span["start"] : span["end"]], True))
        cursor = span["end"]
    if cursor < len(body):
        pieces.append((body[cursor:], False))
    return pieces


@bp.get("/search")
@login_required
def results():
    query = (request.args.get("q") or "").strip()[:200]
    before = request.args.get("before", type=int)
    hits, next_cursor, problem = [], None, None
    if query:
        try:
            hits, next_cursor = search.search(current_user, query, before=before, limit=PAGE)
        except ServiceError as error:
            problem = error.message
    return render_template(
        "search/results.html",
        query=query,
        hits=hits,
        next_cursor=next_cursor,
        problem=problem,
        segments=segments,
    )
