"""People pages: the directory, a person's profile, and editing one's own profile.

Thin: each handler calls a service and renders. "Message" is a POST (it may create
a room) that lands on the direct room's page.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..errors import ServiceError
from ..services import directory, passwords, profiles, rooms
from ..services.sessions import renew_after_password_change
from ..throttling import avatar_uploads, password_checks
from .forms import AvatarForm, DisplayNameForm, PasswordForm, RemoveAvatarForm

bp = Blueprint("people", __name__)

PAGE_SIZE = 20


@bp.get("/people")
@login_required
def directory_page():
    query = request.args.get("q", "")[:50]
    cursor = request.args.get("cursor") or None
    try:
        people, next_cursor = directory.search(query, PAGE_SIZE, cursor)
    except ServiceError as error:
        # A stale or edited cursor: show the first page of the same search instead.
        flash(error.message, "error")
        people, next_cursor = directory.search(query, PAGE_SIZE)
    return render_template(
        "people/directory.html", people=people, query=query, next_cursor=next_cursor
    )


@bp.get("/people/<uuid:user_id>")
@login_required
def profile_page(user_id: uuid.UUID):
    return render_template("people/show.html", person=profiles.get_person(user_id))


@bp.post("/people/<uuid:user_id>/message")
@login_required
def message(user_id: uuid.UUID):
    """Open (or create) the direct room with this person and go there."""
    try:
        room, _created = rooms.open_direct_room(current_user, user_id)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("people.directory_page"))
    return redirect(url_for("room.show", room_id=room.id))


def _render_edit(
    name_form: DisplayNameForm | None = None,
    avatar_form: AvatarForm | None = None,
    password_form: PasswordForm | None = None,
    status: int = 200,
):
    if name_form is None:
        name_form = DisplayNameForm(prefix="name", data={"display_name": current_user.display_name})
    return (
        render_template(
            "people/edit.html",
            name_form=name_form,
            avatar_form=avatar_form or AvatarForm(prefix="photo"),
            remove_form=RemoveAvatarForm(prefix="remove"),
            password_form=password_form or PasswordForm(prefix="password"),
            has_photo=current_user.profile.avatar is not None,
        ),
        status,
    )


@bp.get("/profile")
@login_required
def edit_profile():
    return _render_edit()


@bp.post("/profile")
@login_required
def rename():
    form = DisplayNameForm(prefix="name")
    if not form.validate_on_submit():
        return _render_edit(name_form=form, status=400)
    try:
        profiles.rename(current_user._get_current_object(), form.display_name.data)
    except ServiceError as error:
        form.display_name.errors = [error.message.removeprefix("display_name: ")]
        return _render_edit(name_form=form, status=error.status)
    flash("Your name was changed.", "info")
    return redirect(url_for("people.edit_profile"))


@bp.post("/profile/avatar")
@avatar_uploads
@login_required
def upload_avatar():
    form = AvatarForm(prefix="photo")
    if not form.validate_on_submit():
        return _render_edit(avatar_form=form, status=400)
    try:
        profiles.set_avatar(current_user._get_current_object(), form.avatar.data.stream)
    except ServiceError as error:
        form.avatar.errors = [error.message]
        return _render_edit(avatar_form=form, status=error.status)
    flash("Your photo was changed.", "info")
    return redirect(url_for("people.edit_profile"))


@bp.post("/profile/avatar/remove")
@login_required
def remove_avatar():
    form = RemoveAvatarForm(prefix="remove")
    if form.validate_on_submit():
        profiles.remove_avatar(current_user._get_current_object())
        flash("Your photo was removed.", "info")
    return redirect(url_for("people.edit_profile"))


@bp.post("/profile/password")
@password_checks
@login_required
def change_password():
    """The password form: this login stays signed in, every other one is signed out."""
    form = PasswordForm(prefix="password")
    if not form.validate_on_submit():
        return _render_edit(password_form=form, status=400)
    try:
        user = passwords.change_password(
            current_user._get_current_object(), form.current_password.data, form.new_password.data
        )
    except ServiceError as error:
        field = form.current_password if error.code == "wrong_password" else form.new_password
        field.errors = [error.message]
        return _render_edit(password_form=form, status=error.status)
    renew_after_password_change(user)
    flash("Your password was changed; your other sessions were signed out.", "info")
    return redirect(url_for("people.edit_profile"))
