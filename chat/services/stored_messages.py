"""Messages as pages read them: plain values, not ORM objects.

A history page, a catch-up page and a sync answer read up to hundreds of messages
only to show them. Loading them as ``Message`` entities with their joined senders
and profiles cost more than the rest of a history request together
(docs/performance.md); here a page is one Core query for the rows, their senders and
their mentions, whatever its size. A send builds its ``StoredMessage`` from the
values it just wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Select,
    String,
    TypeDecorator,
    Uuid,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)

from ..extensions import db
from ..models import Message, MessageMention, Profile, User
from . import avatars

_messages = Message.__table__
_mentions = MessageMention.__table__

# How many distinct ids the page queries keep parsed, all columns together (and the
# mentions apart): about 1 MB when full.
SHARED_IDS = 4096


class SharedUuid(TypeDecorator[uuid.UUID]):
    """``Uuid`` for the id columns of page queries: each distinct value read back is parsed
    once and the ``UUID`` shared, where the driver hands ids back as text (SQLite).

    A page of 50 rows carries 150 ids (room, sender, sender's user row) and few distinct
    ones: one room, a handful of senders. Parsing every one of them was a tenth of a
    history page's CPU on SQLite (docs/performance.md, item 19). ``UUID`` objects are
    immutable, so sharing one between rows, pages and greenlets changes nothing else.
    PostgreSQL's driver makes the ``UUID`` itself: no processing to share there.
    """

    impl = Uuid
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        parse = self.impl_instance.result_processor(dialect, coltype)
        if parse is None:
            return None
        # SQLAlchemy asks once per dialect and keeps the answer: one cache per instance.
        return lru_cache(maxsize=SHARED_IDS)(parse)


# One instance for every id column of the pages: one cache, so that a sender's id is
# the same object as sender and as the row's sender_id.
_SHARED_UUID = SharedUuid()


def _shared_ids(column: ColumnElement[uuid.UUID], name: str) -> ColumnElement[uuid.UUID]:
    return type_coerce(column, _SHARED_UUID).label(name)


# What a page query selects: the row's own columns, in StoredMessage's field order.
PAGE_COLUMNS = (
    _messages.c.id,
    _shared_ids(_messages.c.room_id, "room_id"),
    _messages.c.seq,
    _messages.c.change_seq,
    _shared_ids(_messages.c.sender_id, "sender_id"),
    _messages.c.body,
    _messages.c.client_id,
    _messages.c.created_at,
    _messages.c.edited_at,
    _messages.c.deleted_at,
)


@dataclass(frozen=True, slots=True)
class Sender:
    """A message's sender as pages show them: what ``UserSchema`` has, read with Core."""

    id: uuid.UUID
    display_name: str
    avatar: str | None
    created_at: datetime

    @property
    def avatar_url(self) -> str:
        return avatars.avatar_url(self.id, self.display_name, self.avatar)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as read for a page, with the attributes of ``Message`` that pages show.

    Plain values: the sender is shared by all of that sender's messages in the page
    and read once.
    """

    id: int
    room_id: uuid.UUID
    seq: int
    change_seq: int
    sender_id: uuid.UUID | None
    body: str
    client_id: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    sender: Sender | User | None
    mentioned_ids: list[uuid.UUID]

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


_users = User.__table__
_profiles = Profile.__table__
# A page's sender columns, joined to its rows: a sender comes with each of their
# messages (a few bytes more per row) instead of costing a query of its own.
_SENDER_COLUMNS = (
    _shared_ids(_users.c.id, "sender_user_id"),
    _profiles.c.display_name.label("sender_display_name"),
    _profiles.c.avatar.label("sender_avatar"),
    _users.c.created_at.label("sender_created_at"),
)
_WITH_SENDERS = _messages.outerjoin(_users, _users.c.id == _messages.c.sender_id).outerjoin(
    _profiles, _profiles.c.user_id == _users.c.id
)
# A row's mentions as one column ("id,id,..." or NULL), read with the row: a query of
# their own cost a page more than the rows did, most of it SQLAlchemy expanding the
# page's ids into an IN list on every call (docs/performance.md, item 15).
# aggregate_strings is group_concat on SQLite, string_agg on PostgreSQL; its separator
# as SQL text, not a string, which SQLAlchemy would render anew on every execution.
_MENTIONED_IDS = (
    select(func.aggregate_strings(cast(_mentions.c.user_id, String), literal_column("','")))
    .where(_mentions.c.message_id == _messages.c.id)
    .scalar_subquery()
    .label("mentioned_ids")
)


# Where a page row's sender columns start: after PAGE_COLUMNS and the mentions.
_SENDER_START = len(PAGE_COLUMNS) + 1


def page_statement(*conditions: ColumnElement[bool]) -> Select:
    """A page query: ``PAGE_COLUMNS``, each row's mentions and sender, for the rows that match.

    The caller adds its order and limit; ``read_page`` runs it. Built once per kind of
    page by the caller: building a statement and its cache key costs about as much as
    running it (docs/performance.md).
    """
    return (
        select(*PAGE_COLUMNS, _MENTIONED_IDS, *_SENDER_COLUMNS)
        .select_from(_WITH_SENDERS)
        .where(*conditions)
    )


def read_page(query: Select, params: dict[str, Any] | None = None) -> list[StoredMessage]:
    """Run a ``page_statement`` with ``params``: the rows with their senders and
    mentions, in one query whatever the page's size. Core on the session's connection:
    no ORM entity or unit of work for what is only read and shown."""
    rows = db.session.connection().execute(query, params).all()
    width = len(PAGE_COLUMNS)
    senders: dict[uuid.UUID, Sender] = {}
    page: list[StoredMessage] = []
    for row in rows:
        sender = None
        if row.sender_user_id is not None:
            sender = senders.get(row.sender_user_id)
            if sender is None:
                sender = senders[row.sender_user_id] = Sender(*row[_SENDER_START:])
        page.append(
            StoredMessage(
                *row[:width], sender=sender, mentioned_ids=_mentioned_ids(row.mentioned_ids)
            )
        )
    return page


def _mentioned_ids(aggregated: str | None) -> list[uuid.UUID]:
    """The ids of ``_MENTIONED_IDS``, in order (the aggregate's own order is unspecified)."""
    if not aggregated:
        return []
    return sorted(_parse_id(text) for text in aggregated.split(","))


# The mentions' ids come as text on both databases (the aggregate casts them).
_parse_id = lru_cache(maxsize=SHARED_IDS)(uuid.UUID)
