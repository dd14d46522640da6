"""Staff login for both servers' pages: the login, logout and own-password views, server-side
sessions, ``login_required`` and the one ``safe_next``.

Each app wires ``auth_blueprint`` with its own home endpoint and its own ``auth/login.html``.
A session lives in the ``sessions`` table: the signed cookie only carries its id, so
logout, a password change or disabling the account ends it on the server at once, and a cookie
saved before that gets the login page.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from . import accounts
from .web import STATIC_ENDPOINTS

MESSAGES_VI = {
    "current password is wrong": "Mật khẩu hiện tại không đúng.",
    "new password must differ": "Mật khẩu mới phải khác mật khẩu hiện tại.",
    "password must be at least": f"Mật khẩu phải có ít nhất {accounts.MIN_PASSWORD} ký tự.",
    "password must mix": "Mật khẩu phải gồm cả chữ và số hoặc ký hiệu.",
}


def password_error_vi(message: str, fallback: str = "Không đổi được mật khẩu.") -> str:
    return next((text for key, text in MESSAGES_VI.items() if key in message), fallback)


def login_required(view=None, *, roles: tuple[str, ...] = ()):
    """Require a logged-in account (``g.user``); with roles, one of them (admin passes every check)."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if g.get("user") is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and not g.user.can(*roles):
                abort(403)
            return fn(*args, **kwargs)
        return wrapped
    return decorate(view) if view else decorate


admin_required = login_required(roles=("admin",))

_INVISIBLE = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(target: str | None, default: str) -> str:
    """Only a same-site path may be the place a page returns to.

    The target is first normalised as browsers do (tabs, newlines and other control characters
    dropped, backslashes read as slashes), so ``/\\t/evil.example/`` or ``/\\evil.example`` cannot
    turn into ``//evil.example``; what remains must be one path starting with a single slash.
    """
    if not target:
        return default
    cleaned = _INVISIBLE.sub("", target).replace("\\", "/")
    parts = urlsplit(cleaned)
    if not cleaned.startswith("/") or cleaned.startswith("//") or parts.scheme or parts.netloc:
        return default
    return cleaned


def _now() -> datetime:
    return current_app.config["CLOCK"]()


def auth_blueprint(home_endpoint: str, get_db: Callable, *, logger: str, skip_prefixes: tuple[str, ...] = ()
                   ) -> Blueprint:
    """The ``auth`` blueprint: /dang-nhap, /dang-xuat, /doi-mat-khau and the per-request session check.

    ``skip_prefixes``: paths whose requests never use the session (an API with Bearer tokens).
    The per-address limiter (``app.extensions["motcua.login_limiter"]``, a SlidingWindow) answers 429.
    """
    # auth/password.html is the same page on both servers (appshell/templates); each app's base.html frames it
    bp = Blueprint("auth", __name__, template_folder="templates")
    log = logging.getLogger(logger)

    @bp.before_app_request
    def load_user():
        if skip_prefixes and request.path.startswith(skip_prefixes):
            return None
        g.user = None
        if request.endpoint in STATIC_ENDPOINTS:
            return None
        session_id = session.get("sid")
        if session_id is None:
            if "user_id" in session:  # a cookie signed before sessions lived on the server
                session.clear()
            return None
        user = accounts.user_for_session(get_db(), session_id)
        if user is None:
            session.clear()
            return None
        g.user = user
        if user.must_change_password and request.endpoint not in ("auth.password", "auth.logout"):
            return redirect(url_for("auth.password"))
        return None

    @bp.route("/dang-nhap", methods=("GET", "POST"))
    def login():
        if request.method == "GET":
            return render_template("auth/login.html", error=None)
        settings = current_app.config["MOTCUA"]
        limiter = current_app.extensions["motcua.login_limiter"]
        ip = request.remote_addr or "?"
        if not limiter.try_acquire(ip):
            log.info("login refused for %s: too many attempts from this address", ip)
            return render_template("auth/login.html",
                                   error="Quá nhiều lần đăng nhập sai từ máy này. Vui lòng thử lại sau ít phút."), 429
        error = None
        conn = get_db()
        try:
            user = accounts.authenticate(conn, request.form.get("username", ""), request.form.get("password", ""),
                                         _now(), settings["login_max_failures"], settings["login_lock_minutes"])
        except accounts.LoginLocked:
            user = None
            error = (f"Tài khoản tạm khóa do đăng nhập sai nhiều lần. Vui lòng thử lại sau "
                     f"{settings['login_lock_minutes']} phút hoặc liên hệ quản trị.")
        if user is not None:
            limiter.release(ip)  # only failures count against the address
            session.clear()
            session.permanent = True
            session["sid"] = accounts.start_session(conn, user.id, current_app.permanent_session_lifetime)
            log.info("login ok for user %s", user.username)
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(safe_next(request.args.get("next"), url_for(home_endpoint)))
        log.info("login refused for %s", ip)
        return render_template("auth/login.html", error=error or "Tên đăng nhập hoặc mật khẩu không đúng."), 401

    @bp.route("/dang-xuat", methods=("POST",))
    def logout():
        accounts.end_session(get_db(), session.get("sid"))
        session.clear()
        flash("Bạn đã đăng xuất.")
        return redirect(url_for("auth.login"))

    @bp.route("/doi-mat-khau", methods=("GET", "POST"))
    @login_required
    def password():
        error = None
        if request.method == "POST":
            form = request.form
            conn = get_db()
            if form.get("new_password", "") != form.get("confirm", ""):
                error = "Hai lần nhập mật khẩu mới không khớp."
            else:
                try:
                    accounts.change_password(conn, g.user.id, form.get("current_password", ""),
                                             form.get("new_password", ""))
                except accounts.UserError as exc:
                    error = password_error_vi(str(exc))
            if error is None:
                # every session of the account ended; this browser continues in a new one
                session.clear()
                session.permanent = True
                session["sid"] = accounts.start_session(conn, g.user.id, current_app.permanent_session_lifetime)
                log.info("password changed by user %s", g.user.username)
                flash("Đã đổi mật khẩu. Các phiên đăng nhập khác của tài khoản đã kết thúc.")
                return redirect(url_for(home_endpoint), 303)
        return render_template("auth/password.html", error=error,
                               forced=g.user.must_change_password), (400 if error else 200)

    return bp
