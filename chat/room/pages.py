"""Room pages: the list with its create/join forms, a room, and the join link."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..errors import ServiceError
from ..services import messages, presence, reading, rooms
from ..throttling import room_creation
from .forms import CreateRoomForm, JoinRoomForm
from .links import parse_room_reference

bp = Blueprint("room", __name__)

HISTORY_PAGE = 50


def _sidebar() -> dict:
    """What the sidebar of every room page shows: the rooms with unread counts and presence."""
    user_rooms = reading.annotate(rooms.list_rooms(current_user), current_user.id)
    peers = [room.peer_of(current_user.id) for room in user_rooms]
    online = presence.online_among(peer.id for peer in peers if peer is not None)
    return {"rooms": user_rooms, "online_ids": online}


def _render_index(create_form: CreateRoomForm, join_form: JoinRoomForm, status: int = 200):
    return (
        render_template(
            "room/index.html", create_form=create_form, join_form=join_form, **_sidebar()
        ),
        status,
    )


@bp.get("/")
@login_required
def index():
    return _render_index(CreateRoomForm(prefix="create"), JoinRoomForm(prefix="join"))


@bp.post("/rooms")
@room_creation
@login_required
def create():
    create_form = CreateRoomForm(prefix="create")
    if not create_form.validate_on_submit():
        return _render_index(create_form, JoinRoomForm(prefix="join"), 400)
    room = rooms.create_group_room(current_user, create_form.title.data, [])
    return redirect(url_for("room.show", room_id=room.id))


@bp.post("/rooms/join")
@login_required
def join_by_form():
    join_form = JoinRoomForm(prefix="join")
    if not join_form.validate_on_submit():
        return _render_index(CreateRoomForm(prefix="create"), join_form, 400)
    room_id = parse_room_reference(join_form.room.data)
    try:
        rooms.join_room(current_user, room_id)
    except ServiceError as error:
        flash(error.message, "error")
        return _render_index(CreateRoomForm(prefix="create"), join_form, error.status)
    return redirect(url_for("room.show", room_id=room_id))


@bp.get("/rooms/<uuid:room_id>/join")
@login_required
def join_link(room_id: uuid.UUID):
    """The shareable link: a page that asks before joining (a GET must not change state)."""
    if rooms.is_member(current_user.id, room_id):
        return redirect(url_for("room.show", room_id=room_id))
    form = JoinRoomForm(prefix="join", data={"room": str(room_id)})
    return render_template("room/join.html", room_id=room_id, join_form=form)


@bp.get("/rooms/<uuid:room_id>")
@login_required
def show(room_id: uuid.UUID):
    room = reading.annotate([rooms.get_room(current_user, room_id)], current_user.id)[0]
    # ?around=<seq> (a search result): the page centred on that message, marked.
    around = request.args.get("around", type=int)
    if around is not None and around < 1:
        around = None
    latest = messages.history(current_user, room_id, around=around, limit=HISTORY_PAGE)
    sidebar = _sidebar()
    member_online = presence.online_among(member.user_id for member in room.members)
    return render_template(
        "room/show.html",
        room=room,
        messages=latest,
        history_page=HISTORY_PAGE,
        member_online=member_online,
        join_link=url_for("room.join_link", room_id=room.id, _external=True),
        active_room_id=room.id,
        highlight_seq=around,
        **sidebar,
    )
