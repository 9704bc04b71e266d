"""Room pages: the list with its create/join forms, a room, and the join link."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..errors import ServiceError
from ..services import messages, rooms
from .forms import CreateRoomForm, JoinRoomForm
from .links import parse_room_reference

bp = Blueprint("room", __name__)


def _render_index(create_form: CreateRoomForm, join_form: JoinRoomForm, status: int = 200):
    user_rooms = rooms.list_rooms(current_user)
    return (
        render_template(
            "room/index.html", rooms=user_rooms, create_form=create_form, join_form=join_form
        ),
        status,
    )


@bp.get("/")
@login_required
def index():
    return _render_index(CreateRoomForm(prefix="create"), JoinRoomForm(prefix="join"))


@bp.post("/rooms")
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
    room = rooms.get_room(current_user, room_id)
    latest = messages.history(current_user, room_id, limit=50)
    return render_template(
        "room/show.html",
        room=room,
        messages=latest,
        join_link=url_for("room.join_link", room_id=room.id, _external=True),
    )
