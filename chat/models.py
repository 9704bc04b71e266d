"""The stored data: users and their profiles, rooms, memberships and messages.

Grown from the seed's five tables. Login data (``User``) and presentation data
(``Profile``) are split because they change at different rates; ``Room.last_seq``
is the per-room counter from which message ``seq`` values are taken inside the
insert's own transaction, so that numbering has no gap and no repeat.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .extensions import db

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

ROOM_KINDS = ("direct", "group")
NAME_KEY_LENGTH = 200
# Stored as a direct room's own title; each member is shown the other member's name instead.
DIRECT_ROOM_TITLE = "Direct conversation"


def utcnow() -> datetime:
    return datetime.now(UTC)


def name_search_key(name: str) -> str:
    """The form of a display name that the directory searches and sorts by.

    SQL's ``lower()`` folds ASCII only (SQLite), so the folding is done here, once, on
    write: NFKC (full-width and composed forms match their plain twins, decomposed
    Hangul matches composed) around a full case fold (``Straße`` matches ``strasse``).
    NFKC can expand a character many times over, hence the cap.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded[:NAME_KEY_LENGTH]


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored lower-cased: the unique constraint then makes emails case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped by a password change: part of get_id(), so older sessions stop loading.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    profile: Mapped[Profile] = relationship(
        back_populates="user", uselist=False, lazy="joined", cascade="all, delete-orphan"
    )

    # Flask-Login protocol.
    is_active = True
    is_anonymous = False
    is_authenticated = True

    def get_id(self) -> str:
        """What Flask-Login stores: the id and the session epoch (see services/passwords.py)."""
        return f"{self.id}:{self.session_epoch or 0}"

    @property
    def display_name(self) -> str:
        return self.profile.display_name if self.profile else ""

    @property
    def avatar_url(self) -> str:
        """The stored thumbnail's URL, or the generated initials-on-a-colour default."""
        from .services.avatars import avatar_url

        return avatar_url(self.id, self.display_name, self.profile.avatar if self.profile else None)


class Profile(db.Model):
    __tablename__ = "profiles"
    __table_args__ = (
        # The directory's order (and keyset cursor) is (name_key, user_id).
        Index("ix_profiles_name_key_user_id", "name_key", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    display_name: Mapped[str] = mapped_column(String(50))
    # name_search_key(display_name), kept in step by the validator below.
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    # The thumbnail's file name ("<sha256>.webp") under UPLOAD_FOLDER/avatars, or None.
    avatar: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    user: Mapped[User] = relationship(back_populates="profile")

    @validates("display_name")
    def _keep_name_key(self, _key: str, value: str) -> str:
        """Every write of the name, wherever it comes from, refreshes its search key."""
        self.name_key = name_search_key(value)
        return value


class Room(db.Model):
    __tablename__ = "rooms"
    __table_args__ = (
        CheckConstraint("kind IN ('direct', 'group')", name="kind"),
        Index("ix_rooms_last_activity_at", "last_activity_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(100))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped with a row lock in the transaction that inserts a message.
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every insert, edit and delete of a message: the catch-up cursor.
    last_change: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "<smaller user id>:<larger user id>" for direct rooms: one room per pair, by constraint.
    direct_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    members: Mapped[list[RoomMember]] = relationship(
        back_populates="room",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="RoomMember.joined_at",
    )

    @property
    def member_users(self) -> list[User]:
        return [member.user for member in self.members]

    def peer_of(self, viewer_id: uuid.UUID | None) -> User | None:
        """In a direct room, the member who is not ``viewer_id``; None elsewhere."""
        if self.kind != "direct" or viewer_id is None:
            return None
        others = [member.user for member in self.members if member.user_id != viewer_id]
        return others[0] if len(others) == 1 else None

    def title_for(self, viewer_id: uuid.UUID | None) -> str:
        """The title one member sees: a direct room is named after the other person.

        Computed, not stored, so that a rename shows everywhere at once; the stored
        title is what a viewer-less dump (or a room whose peer was deleted) shows.
        """
        peer = self.peer_of(viewer_id)
        return peer.display_name if peer is not None else self.title


class RoomMember(db.Model):
    __tablename__ = "room_members"
    __table_args__ = (
        UniqueConstraint("room_id", "user_id", name="uq_room_members_room_user"),
        Index("ix_room_members_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A muted room raises no notifications for this member (unread counts still show).
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    room: Mapped[Room] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # History pages are keyset scans of this index; it also forbids repeated seqs.
        UniqueConstraint("room_id", "seq", name="uq_messages_room_seq"),
        # A retried send finds its first attempt through this; NULLs never collide.
        UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client_id"),
        # Catch-up reads "what changed in this room since change N" through this.
        Index("ix_messages_room_change_seq", "room_id", "change_seq"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    sender_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    seq: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The room's change counter when this row last changed (insert, edit or delete).
    change_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Joined so that a page of history names its senders without a query per row.
    sender: Mapped[User | None] = relationship(lazy="joined")

    mentions: Mapped[list[MessageMention]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def mentioned_ids(self) -> list[uuid.UUID]:
        return [mention.user_id for mention in self.mentions]


class MessageMention(db.Model):
    """A member named with ``@name`` in a message: highlighted for them, counted apart."""

    __tablename__ = "message_mentions"
    __table_args__ = (Index("ix_message_mentions_user_id", "user_id"),)

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
