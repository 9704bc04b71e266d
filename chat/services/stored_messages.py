"""Messages as pages read them: plain values, not ORM objects.

A history page, a catch-up page and a sync answer read up to hundreds of messages
only to show them. Loading them as ``Message`` entities with their joined senders
and profiles cost more than the rest of a history request together
(docs/performance.md); here a page is one Core query for the rows and their senders
and one for their mentions, whatever its size. A send builds its ``StoredMessage``
from the values it just wrote.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select

from ..extensions import db
from ..models import Message, MessageMention, Profile, User
from . import avatars

_messages = Message.__table__
_mentions = MessageMention.__table__
# What a page query selects: the row's own columns, in StoredMessage's field order.
PAGE_COLUMNS = (
    _messages.c.id,
    _messages.c.room_id,
    _messages.c.seq,
    _messages.c.change_seq,
    _messages.c.sender_id,
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
    _users.c.id.label("sender_user_id"),
    _profiles.c.display_name.label("sender_display_name"),
    _profiles.c.avatar.label("sender_avatar"),
    _users.c.created_at.label("sender_created_at"),
)
_WITH_SENDERS = _messages.outerjoin(_users, _users.c.id == _messages.c.sender_id).outerjoin(
    _profiles, _profiles.c.user_id == _users.c.id
)
_PAGE_MENTIONS = (
    select(_mentions.c.message_id, _mentions.c.user_id)
    .where(_mentions.c.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(_mentions.c.message_id, _mentions.c.user_id)
)


def page_statement(*conditions: ColumnElement[bool]) -> Select:
    """A page query: ``PAGE_COLUMNS`` and each row's sender, for the rows that match.

    The caller adds its order and limit; ``read_page`` runs it. Built once per kind of
    page by the caller: building a statement and its cache key costs about as much as
    running it (docs/performance.md).
    """
    return select(*PAGE_COLUMNS, *_SENDER_COLUMNS).select_from(_WITH_SENDERS).where(*conditions)


def read_page(query: Select, params: dict[str, Any] | None = None) -> list[StoredMessage]:
    """Run a ``page_statement`` with ``params``: the rows with their senders, then one
    query for their mentions, whatever the page's size. Core on the session's
    connection: no ORM entity or unit of work for what is only read and shown."""
    connection = db.session.connection()
    rows = connection.execute(query, params).all()
    if not rows:
        return []
    width = len(PAGE_COLUMNS)
    senders: dict[uuid.UUID, Sender] = {}
    for row in rows:
        if row.sender_user_id is not None and row.sender_user_id not in senders:
            senders[row.sender_user_id] = Sender(*row[width:])
    mentioned: dict[int, list[uuid.UUID]] = defaultdict(list)
    for message_id, user_id in connection.execute(
        _PAGE_MENTIONS, {"ids": [row.id for row in rows]}
    ):
        mentioned[message_id].append(user_id)
    return [
        StoredMessage(
            *row[:width],
            sender=senders.get(row.sender_user_id),
            mentioned_ids=mentioned.get(row.id, []),
        )
        for row in rows
    ]
