"""Staff login, logout and role checks for central's pages (the JSON API uses Bearer tokens instead)."""
from __future__ import annotations

import functools
import logging

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from .. import users
from ..db import get_db

bp = Blueprint("auth", __name__)
log = logging.getLogger("motcua.central")

# Central's settings file does not (yet) declare these; a value there wins over the default.
DEFAULTS = {"login_max_failures": 5, "login_lock_minutes": 15, "session_hours": 12}


def setting(name: str):
    return current_app.config["MOTCUA"].get(name, DEFAULTS[name])


@bp.before_app_request
def load_user():
    if request.path.startswith("/api/"):
        return  # the API authenticates every request by its Bearer token, never by the session
    g.user = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = users.by_id(get_db(), user_id)
        if user and user.active:
            g.user = user
        else:
            session.clear()


def login_required(view=None, *, roles: tuple[str, ...] = ()):
    """Require a logged-in account; with roles, one of them (admin passes every check)."""
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


admin_required = login_required(roles=("admin",))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("overview.index")


@bp.route("/dang-nhap", methods=("GET", "POST"))
def login():
    error = None
    if request.method == "POST":
        limiter = current_app.extensions["motcua.login_limiter"]
        ip = request.remote_addr or "?"
        if limiter.blocked(ip):
            error = "Quá nhiều lần đăng nhập sai từ máy này. Vui lòng thử lại sau ít phút."
            return render_template("auth/login.html", error=error), 429
        try:
            user = users.authenticate(get_db(), request.form.get("username", ""), request.form.get("password", ""),
                                      g.now, setting("login_max_failures"), setting("login_lock_minutes"))
        except users.LoginLocked:
            user = None
            error = (f"Tài khoản tạm khóa do đăng nhập sai nhiều lần. Vui lòng thử lại sau "
                     f"{setting('login_lock_minutes')} phút hoặc liên hệ quản trị.")
        if user is not None:
            session.clear()
            session.permanent = True
            session["user_id"] = user.id
            log.info("login ok for user %s", user.username)
            return redirect(_safe_next(request.args.get("next")))
        limiter.hit(ip)
        error = error or "Tên đăng nhập hoặc mật khẩu không đúng."
        log.info("login refused for %s", request.remote_addr)
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/dang-xuat", methods=("POST",))
def logout():
    session.clear()
    flash("Bạn đã đăng xuất.")
    return redirect(url_for("auth.login"))
