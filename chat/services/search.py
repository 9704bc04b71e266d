"""Message search over the rooms a user belongs to now, with the database's own full-text index.

SQLite: FTS5 (``message_search``, unicode61 tokenizer) — words are split on
Unicode word boundaries, case and diacritics folded; every query word is a
prefix query, so "run" finds "running" and "안녕" finds "안녕하세요".
PostgreSQL: ``to_tsvector('simple', body)`` in a generated, GIN-indexed column,
queried with ``to_tsquery('simple', 'word:* & …')`` — the same prefix semantics.
Neither finds a fragment in the middle of a word (documented in docs/api.md).

Deleted messages have an empty body, so their index entry is empty too; rooms
the user left are excluded by joining the current membership, never by a list
the client sends.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Integer, and_, func, literal_column, select, text

from ..errors import Invalid
from ..extensions import db
from ..models import Message, Room, RoomMember, User
from ..search_index import PG_VECTOR_COLUMN, SQLITE_FTS_TABLE
from .permissions import require_member

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 8


@dataclass
class SearchHit:
    message: Message
    room: Room
    highlights: list[dict[str, int]]


def query_terms(text_query: str) -> list[str]:
    """The words of a query, lower-cased; punctuation and operators are dropped, not parsed."""
    terms = [word.casefold() for word in _WORD.findall(text_query)]
    if not terms:
        raise Invalid("The search needs at least one letter or digit.", code="empty_query")
    return terms[:MAX_TERMS]


# PostgreSQL: how many of the reader's newest messages to try before the GIN index.
RECENT_WINDOW = 2000


def _sqlite_match(terms: list[str]):
    # Each term quoted (no FTS5 syntax from the user) and made a prefix query. SQLite
    # builds the set of matching rowids once and walks messages newest first against it.
    fts_query = " ".join('"' + term.replace('"', '""') + '"*' for term in terms)
    matching = text(f"SELECT rowid FROM {SQLITE_FTS_TABLE} WHERE {SQLITE_FTS_TABLE} MATCH :q")
    return Message.id.in_(matching.bindparams(q=fts_query).columns(rowid=Integer))


def _pg_ts_query(terms: list[str]):
    """Every term as a prefix, all required: ``to_tsquery('simple', 'word:* & other:*')``."""
    ts_query = " & ".join(re.sub(r"[^\w]", "", term) + ":*" for term in terms)
    return func.to_tsquery("simple", ts_query)


def highlights(body: str, terms: list[str]) -> list[dict[str, int]]:
    """Where the query's words start words of the body: ``[{start, end}]``, merged, in order."""
    spans: list[list[int]] = []
    folded = body.casefold()
    for match in _WORD.finditer(folded):
        for term in terms:
            if match.group().startswith(term):
                spans.append([match.start(), match.start() + len(term)])
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [{"start": start, "end": end} for start, end in merged]


def search(
    user: User,
    text_query: str,
    *,
    room_id: uuid.UUID | None = None,
    before: int | None = None,
    limit: int = 20,
) -> tuple[list[SearchHit], int | None]:
    """Newest matches first, keyset-paged by message id; returns the page and the next cursor."""
    terms = query_terms(text_query)
    if room_id is not None:
        require_member(user.id, room_id)
    base = (
        select(Message, Room)
        .join(Room, Room.id == Message.room_id)
        .join(
            RoomMember, and_(RoomMember.room_id == Message.room_id, RoomMember.user_id == user.id)
        )
        .where(Message.deleted_at.is_(None))
        .order_by(Message.id.desc())
        .limit(limit + 1)
    )
    if room_id is not None:
        base = base.where(Message.room_id == room_id)
    if before is not None:
        base = base.where(Message.id < before)
    if db.engine.dialect.name == "sqlite":
        rows = db.session.execute(base.where(_sqlite_match(terms))).all()
    else:
        member_rooms = select(RoomMember.room_id).where(RoomMember.user_id == user.id)
        if room_id is not None:
            member_rooms = member_rooms.where(RoomMember.room_id == room_id)
        rows = _pg_rows(base, _pg_ts_query(terms), member_rooms, before, limit)
    page = rows[:limit]
    found = [SearchHit(message, room, highlights(message.body, terms)) for message, room in page]
    next_cursor = page[-1][0].id if len(rows) > limit else None
    return found, next_cursor


def _pg_rows(base, ts_query, member_rooms, before: int | None, limit: int) -> list:
    """Common words are found fastest newest-first, rare ones through the GIN index.

    PostgreSQL's estimates for prefix queries are poor, and either plan alone is
    slow for the other kind of word (scanning every row of the reader's rooms for
    a rare word; sorting every match of a common one). So: test the reader's
    newest messages first (the primary key walked backwards, stopping after
    RECENT_WINDOW rows, the text test applied to just those); only if they hold
    too few matches — the word is rare — take the matches from the index, which
    are then few.
    """
    vector = literal_column(f"messages.{PG_VECTOR_COLUMN}")
    newest = select(Message.id, vector.label("vector")).where(Message.room_id.in_(member_rooms))
    if before is not None:
        newest = newest.where(Message.id < before)
    newest = newest.order_by(Message.id.desc()).limit(RECENT_WINDOW).subquery("newest")
    recent = (
        select(newest.c.id)
        .where(newest.c.vector.op("@@")(ts_query))
        .cte("recent")
        .prefix_with("MATERIALIZED")
    )
    rows = db.session.execute(base.join(recent, recent.c.id == Message.id)).all()
    if len(rows) > limit:
        return rows
    hits = select(Message.id).where(vector.op("@@")(ts_query)).cte("hits")
    hits = hits.prefix_with("MATERIALIZED")
    return db.session.execute(base.join(hits, hits.c.id == Message.id)).all()
