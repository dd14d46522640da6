"""Staff login, logout and role checks."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from service.web_auth import login_required, safe_next  # noqa: F401  (the node's views import it from here)

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
                return redirect(safe_next(request.args.get("next"), url_for("desk.home")))
            limiter.hit(ip)
            error = error or "Tên đăng nhập hoặc mật khẩu không đúng."
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/dang-xuat", methods=("POST",))
def logout():
    session.clear()
    flash("Bạn đã đăng xuất.")
    return redirect(url_for("auth.login"))
