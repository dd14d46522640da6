"""Staff login, logout and role checks for central's pages (the JSON API uses Bearer tokens instead)."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from service.web_auth import login_required, safe_next  # noqa: F401  (central's views import it from here)

from .. import users
from ..db import get_db

bp = Blueprint("auth", __name__)
log = logging.getLogger("motcua.central")

def setting(name: str):
    return current_app.config["MOTCUA"][name]


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


admin_required = login_required(roles=("admin",))


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
            return redirect(safe_next(request.args.get("next"), url_for("overview.index")))
        limiter.hit(ip)
        error = error or "Tên đăng nhập hoặc mật khẩu không đúng."
        log.info("login refused for %s", request.remote_addr)
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/dang-xuat", methods=("POST",))
def logout():
    session.clear()
    flash("Bạn đã đăng xuất.")
    return redirect(url_for("auth.login"))
