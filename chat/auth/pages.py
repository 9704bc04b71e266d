"""Account pages: thin wrappers around ``services.accounts``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import ServiceError
from ..services import accounts
from ..services.sessions import end_socket_session, start_session
from ..throttling import login_per_account, login_per_address, registrations
from .forms import LoginForm, RegisterForm

bp = Blueprint("auth", __name__)


def _safe_next(default: str) -> str:
    """Follow ``next`` only within this site (no open redirect)."""
    target = request.args.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


@bp.route("/login", methods=["GET", "POST"])
@login_per_address
@login_per_account
def login():
    if current_user.is_authenticated:
        return redirect(url_for("room.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except ServiceError as error:
            flash(error.message, "error")
            return render_template("auth/login.html", form=form), error.status
        start_session()
        login_user(user, remember=form.remember.data)
        return redirect(_safe_next(url_for("room.index")))
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


@bp.route("/register", methods=["GET", "POST"])
@registrations
def register():
    if current_user.is_authenticated:
        return redirect(url_for("room.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.password.data, form.display_name.data)
        except ServiceError as error:
            flash(error.message, "error")
            return render_template("auth/register.html", form=form), error.status
        start_session()
        login_user(user)
        return redirect(url_for("room.index"))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    end_socket_session()
    logout_user()
    return redirect(url_for("auth.login"))
