"""Staff login, logout and role checks."""
from __future__ import annotations

import functools

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from .. import users
from ..db import get_db

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_user():
    g.user = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = users.by_id(get_db(), user_id)
        if user and user.active:
            g.user = user
        else:
            session.clear()


def login_required(view=None, *, roles: tuple[str, ...] = ()):
    """Require a logged-in staff member; with roles, one of them (admin passes every check)."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if g.user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and not g.user.can(*roles):
                abort(403)
            return fn(*args, **kwargs)
        return wrapped
    return decorate(view) if view else decorate


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("desk.home")


@bp.route("/dang-nhap", methods=("GET", "POST"))
def login():
    error = None
    if request.method == "POST":
        settings = current_app.config["MOTCUA"]
        limiter = current_app.extensions["motcua.login_limiter"]
        ip = request.remote_addr or "?"
        username = request.form.get("username", "")
        if limiter.blocked(ip):
            error = "Quá nhiều lần đăng nhập sai từ máy này. Vui lòng thử lại sau ít phút."
        else:
            try:
                user = users.authenticate(get_db(), username, request.form.get("password", ""), g.now,
                                          settings["login_max_failures"], settings["login_lock_minutes"])
            except users.LoginLocked:
                user = None
                error = (f"Tài khoản tạm khóa do đăng nhập sai nhiều lần. "
                         f"Vui lòng thử lại sau {settings['login_lock_minutes']} phút hoặc liên hệ quản trị.")
            if user is not None:
                session.clear()
                session.permanent = True
                session["user_id"] = user.id
                current_app.logger.info("login ok for user %s", user.username)
                return redirect(_safe_next(request.args.get("next")))
            limiter.hit(ip)
            error = error or "Tên đăng nhập hoặc mật khẩu không đúng."
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/dang-xuat", methods=("POST",))
def logout():
    session.clear()
    flash("Bạn đã đăng xuất.")
    return redirect(url_for("auth.login"))
