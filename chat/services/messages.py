"""Posting messages and reading history.

A message is committed before anyone hears of it (the seed's first bug was the
reverse). Its ``seq`` comes from ``rooms.last_seq``, incremented by an UPDATE in
the same transaction as the insert: the row lock (PostgreSQL) or the write lock
(SQLite, ``BEGIN IMMEDIATE``) serialises senders, and a rollback gives the number
back, so seqs are 1, 2, 3, ... with no gap and no repeat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Integer, Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..database import (
    DATABASE_ERRORS,
    end_read_transaction,
    read_connection,
    write_connection,
    write_transaction,
)
from ..errors import Conflict, Invalid, NotFound, Unavailable
from ..extensions import db, socketio
from ..models import Message, MessageMention, Room, User, utcnow
from . import mentions, permissions, ratelimits, realtime, send_batches
from .group_commit import GroupCommit
from .permissions import require_member
from .rooms import room_ids_of
from .stored_messages import StoredMessage, page_statement, read_page

# Statements built once: constructing and hashing them on every call cost more CPU than
# executing them (docs/performance.md). Core on the tables: no ORM unit of work runs.
# The send's own writes are in send_batches.
_messages = Message.__table__
_INSERT_MENTIONS = insert(MessageMention.__table__)
# History and catch-up pages, built once (building a statement and its cache key cost
# about as much as running it: docs/performance.md). Ordered by (room_id, seq), not seq
# alone, although room_id is fixed: then the order is the unique index's own, and
# SQLite walks it instead of sorting the room. With ANALYZE statistics that show one
# room holding most messages, "ORDER BY seq" made it scan and sort the whole table for
# the newest page (34 ms at 20,000 messages; docs/performance.md).
# History pages carry the membership rule (no rows for a non-member, who then gets
# 404 from ``require_member``): one query fewer for every page a member reads.
_room_page = page_statement(
    _messages.c.room_id == bindparam("room_id"),
    permissions.membership(bindparam("room_id"), bindparam("user_id")),
)
_page_limit = bindparam("limit", type_=Integer)


def _history_statement(*seq_conditions: ColumnElement[bool], newest_first: bool) -> Select:
    """A history page of the rows matching ``seq_conditions``, in index order."""
    if newest_first:
        order = (_messages.c.room_id.desc(), _messages.c.seq.desc())
    else:
        order = (_messages.c.room_id.asc(), _messages.c.seq.asc())
    return _room_page.where(*seq_conditions).order_by(*order).limit(_page_limit)


_seq = _messages.c.seq
_PAGE_NEWEST = _history_statement(newest_first=True)
_PAGE_BEFORE = _history_statement(_seq < bindparam("seq"), newest_first=True)
_PAGE_FROM = _history_statement(_seq >= bindparam("seq"), newest_first=False)
_PAGE_AFTER = _history_statement(_seq > bindparam("seq"), newest_first=False)
_PAGE_BETWEEN = _history_statement(
    _seq > bindparam("seq"), _seq < bindparam("before"), newest_first=False
)
_CHANGES_PAGE = (
    page_statement(
        _messages.c.room_id == bindparam("room_id"),
        _messages.c.change_seq > bindparam("since"),
    )
    .order_by(_messages.c.change_seq.asc())
    .limit(_page_limit)
)
# Where an app keeps its queue of sends (app.extensions): one queue per app.
SEND_QUEUE_KEY = "chat.send_queue"


def _stored_retry(sender_id: uuid.UUID, client_id: str, room_id: uuid.UUID) -> Message | None:
    """The message an earlier attempt of this send stored, if any."""
    message = db.session.scalar(
        select(Message).where(Message.sender_id == sender_id, Message.client_id == client_id)
    )
    if message is not None and message.room_id != room_id:
        raise Conflict(
            "This client_id was already used for a message in another room.",
            code="client_id_reused",
        )
    return message


@dataclass(frozen=True, slots=True)
class _Send:
    """One send as the batch stores it: plain values, no session, no request."""

    params: dict[str, Any]  # what send_batches.write_batch takes for one send


@dataclass(frozen=True, slots=True)
class _Stored:
    """What storing a send returned to its sender."""

    written: send_batches.Written
    mentioned: list[uuid.UUID]


def _store_sends(sends: list[_Send]) -> list[_Stored | Exception]:
    """Store a batch of sends together, all or nothing; one outcome per send, in order.

    A send refused by the write itself (a non-member's, or a sender's whose session
    ended) writes nothing and is refused alone. One refused after writing (a repeated
    ``client_id``) takes the batch's write down with it; the batch is then stored
    again one send at a time, so that only that send is refused.
    """
    try:
        return _store_batch(sends)
    except IntegrityError as error:
        if len(sends) == 1:
            return [error]
        return [_store_sends([send])[0] for send in sends]


def _store_batch(sends: list[_Send]) -> list[_Stored | Exception]:
    # Core statements on a connection of the batch's own, outside the ORM session: the
    # session's execute path and transaction bookkeeping cost more than the statements.
    # Where the batch is one statement (PostgreSQL) and no message can mention anyone
    # (no mention rows to insert after it), that statement is the whole write: no
    # transaction around it.
    one_statement = send_batches.in_one_statement(db.engine.dialect.name) and not any(
        mentions.may_mention(send.params["body"]) for send in sends
    )
    outcomes: dict[int, _Stored | Exception] = {}
    with write_connection(one_statement=one_statement) as connection:
        written = send_batches.write_batch(connection, [send.params for send in sends])
        mention_rows = []
        room_names: dict[uuid.UUID, list] = {}  # member names per room, read once a batch
        for index, row in sorted(written.items()):
            params = sends[index].params
            mentioned = mentions.mentioned_members(
                connection, params["room_id"], params["body"], params["user_id"], room_names
            )
            mention_rows += [{"message_id": row.message_id, "user_id": user} for user in mentioned]
            outcomes[index] = _Stored(row, mentioned)
        if mention_rows:
            connection.execute(_INSERT_MENTIONS, mention_rows)
    refused = {index: send for index, send in enumerate(sends) if index not in written}
    if refused:
        outcomes.update(_why_refused(refused))
    return [outcomes[index] for index in range(len(sends))]


def _why_refused(refused: dict[int, _Send]) -> dict[int, Exception]:
    """Each refused send's answer (its sender's session ended: 401; else 404), by index.

    Asked after the batch's write is over, and only when a send was refused: a batch
    with none pays no query for it, and a failure here (the database gone meanwhile)
    is only the refused sends' outcome, never that of sends already stored.
    """
    try:
        with read_connection() as connection:
            return {
                index: permissions.send_refusal(
                    connection, send.params["user_id"], send.params["epoch"]
                )
                for index, send in refused.items()
            }
    except (Unavailable, *DATABASE_ERRORS) as error:
        return dict.fromkeys(refused, error)


def init_app(app: Flask) -> None:
    """This app's queue of sends (one per app: its leader uses the app's database)."""
    app.extensions[SEND_QUEUE_KEY] = GroupCommit(
        store=_store_sends,
        # Looked up per send: the Socket.IO server is made after this, by socketio.init_app.
        create_event=lambda: socketio.server.eio.create_event(),
        yield_now=lambda: socketio.sleep(0),
    )


def post_message(
    sender: User,
    room_id: uuid.UUID,
    body: str,
    client_id: str | None = None,
    origin_sid: str | None = None,
) -> tuple[Message | StoredMessage, bool]:
    """Store a message and push it to the room; returns ``(message, created)``.

    Sends that arrive together are stored in one transaction (``group_commit``); each
    is pushed and answered only once that transaction committed. A send made over a
    socket (``origin_sid``) is pushed to every socket of the room but that one, whose
    acknowledgement carries the message.

    A repeated ``client_id`` returns the stored message with ``created=False``
    and pushes nothing: the first attempt already did. The unique constraint on
    ``(sender_id, client_id)`` finds the repeat: its insert is refused, the attempt
    rolled back (seq included) and the stored row read. Retries are rare, so the
    common send pays no lookup for them.

    Each attempt spends one of the sender's message budget (``RateLimited``, 429,
    beyond it), here rather than in a route so that HTTP and the socket share it.
    """
    ratelimits.consume("messages", sender.id)
    params = {
        "room_id": room_id,
        "user_id": sender.id,
        "body": body,
        "client_id": client_id,
        "now": utcnow(),
        "epoch": sender.session_epoch,
    }
    refused: IntegrityError | None = None
    # End the read transaction that loaded the user over HTTP (a socket event has none)
    # before queueing. The batch's leader takes a connection of its own
    # (database.write_connection), and a queue of HTTP senders, each holding one, could
    # otherwise hold the whole pool. And the batch may be stored by another send's
    # transaction: on SQLite, a read transaction opened before it would still see the
    # database as it was then, and a retry's lookup below would miss its message.
    end_read_transaction()
    try:
        stored = current_app.extensions[SEND_QUEUE_KEY].submit(_Send(params))
    except IntegrityError as error:
        if client_id is None:
            raise
        refused = error
    if refused is not None:
        # A repeated client_id: an earlier attempt (or a concurrent one, on PostgreSQL
        # with several processes) stored it; this one, seq included, was rolled back.
        retried = _stored_retry(sender.id, client_id, room_id)
        if retried is None:
            raise refused
        return retried, False
    # The committed row as plain values, outside the session: nothing to flush or reload.
    message = StoredMessage(
        id=stored.written.message_id,
        edited_at=None,
        deleted_at=None,
        sender=permissions.current_sender(sender, stored.written.profile_updated_at),
        mentioned_ids=stored.mentioned,
        **send_batches.message_row(params, stored.written.seq, stored.written.change),
    )
    realtime.push_message(message, origin_sid)
    return message, True


def _bump_change(session, room_id: uuid.UUID) -> int:
    """Take the room's next change number (row lock / write lock held until commit)."""
    return session.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(last_change=Room.last_change + 1)
        .returning(Room.last_change)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def _authored_message(session, author: User, message_id: int) -> Message:
    """The message, locked, if the user may change it: 404 for non-members, 403 for other members.

    FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers)
    keeps an edit racing a delete from resurrecting the deleted body. It locks the
    message row only (``OF messages``): the sender and profile come with an outer join,
    and PostgreSQL refuses FOR UPDATE on the nullable side of one.
    """
    message = permissions.require_author(
        author.id,
        session.get(Message, message_id, with_for_update={"of": Message}, populate_existing=True),
    )
    if message.deleted:
        raise NotFound("This message was deleted.", code="message_deleted")
    return message


def edit_message(
    author: User, message_id: int, body: str, origin_sid: str | None = None
) -> Message:
    """Replace a message's body; everyone in the room sees it change.

    As with a send, the socket that asked (``origin_sid``) learns it from its ack alone.
    """
    with write_transaction() as session:
        message = _authored_message(session, author, message_id)
        if body == message.body:
            return message
        message.change_seq = _bump_change(session, message.room_id)
        message.body = body
        message.edited_at = utcnow()
        message.mentions = mentions.as_rows(
            mentions.mentioned_members(session, message.room_id, body, author.id)
        )
    realtime.push_message_updated(message, origin_sid)
    return message


def delete_message(author: User, message_id: int, origin_sid: str | None = None) -> Message:
    """Delete a message: its body is erased, a marker keeps its place in the history."""
    with write_transaction() as session:
        message = _authored_message(session, author, message_id)
        message.change_seq = _bump_change(session, message.room_id)
        message.body = ""
        message.deleted_at = utcnow()
        message.mentions = []
    realtime.push_message_deleted(message, origin_sid)
    return message


def changes_since(reader: User, room_id: uuid.UUID, since: int, limit: int = 200) -> dict:
    """Messages inserted, edited or deleted after change ``since``, oldest change first.

    Returns ``{messages, last_change, has_more}``: a client that applies the page and
    stores the last ``change_seq`` it saw has caught up unless ``has_more``.
    """
    require_member(reader.id, room_id)
    return _changes(room_id, since, limit)


def _changes(room_id: uuid.UUID, since: int, limit: int) -> dict:
    last_change = db.session.scalar(select(Room.last_change).where(Room.id == room_id))
    if last_change is None:
        raise NotFound("No such room.")
    page = read_page(_CHANGES_PAGE, {"room_id": room_id, "since": since, "limit": limit})
    has_more = bool(page) and page[-1].change_seq < last_change
    return {"messages": page, "last_change": last_change, "has_more": has_more}


def sync(
    reader: User, cursors: dict[uuid.UUID, int], limit: int = 200
) -> tuple[dict[str, dict], list[str]]:
    """Catch up several rooms at once (after a reconnect): what changed in each since its cursor.

    Returns the changes per room and the rooms the reader no longer belongs to
    (left from another tab, say), which the client should drop. Membership is read
    once for all the rooms, not once per room.
    """
    if len(cursors) > 500:
        raise Invalid("At most 500 rooms per sync.")
    answer: dict[str, dict] = {}
    gone: list[str] = []
    member_rooms = set(room_ids_of(reader.id))
    for room_id, since in cursors.items():
        if room_id not in member_rooms:
            gone.append(str(room_id))
            continue
        answer[str(room_id)] = _changes(room_id, since, limit)
    return answer, gone


def history(
    reader: User,
    room_id: uuid.UUID,
    *,
    before: int | None = None,
    after: int | None = None,
    around: int | None = None,
    limit: int = 50,
) -> list[StoredMessage]:
    """One page of a room's messages in ascending seq, by keyset on ``(room_id, seq)``.

    ``after`` pages forward from a known seq (catch-up); ``before`` pages back
    from one (scrolling up); ``around`` centres the page on one message (a search
    result); none of them gives the newest page.
    """
    page = _history_page(reader.id, room_id, before, after, around, limit)
    if not page:
        # The page's own query holds the membership rule: no rows is either an empty
        # history or a reader who is not a member, and only the second is a 404.
        require_member(reader.id, room_id)
    return page


def _history_page(
    reader_id: uuid.UUID,
    room_id: uuid.UUID,
    before: int | None,
    after: int | None,
    around: int | None,
    limit: int,
) -> list[StoredMessage]:
    params = {"room_id": room_id, "user_id": reader_id, "limit": limit}
    if around is not None:
        # Up to ``limit`` on each side, then a window of ``limit`` centred where it can be:
        # near either end of the history the page fills from the other side.
        older = read_page(_PAGE_BEFORE, {**params, "seq": around})
        newer = read_page(_PAGE_FROM, {**params, "seq": around})
        take_older = max(limit // 2, limit - len(newer))
        older = older[:take_older]
        return [*reversed(older), *newer[: limit - len(older)]]
    if after is not None:
        if before is not None:
            return read_page(_PAGE_BETWEEN, {**params, "seq": after, "before": before})
        return read_page(_PAGE_AFTER, {**params, "seq": after})
    if before is not None:
        return list(reversed(read_page(_PAGE_BEFORE, {**params, "seq": before})))
    return list(reversed(read_page(_PAGE_NEWEST, params)))
