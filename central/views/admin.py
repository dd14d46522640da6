"""Tài khoản: central's accounts (admin, viewer) — add, disable/enable, issue an API token."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from service.web_auth import admin_required, password_error_vi

from .. import users as accounts
from ..db import get_db

bp = Blueprint("admin", __name__, url_prefix="/quan-tri")

USER_ERRORS_VI = {
    "already exists": "Tên đăng nhập đã tồn tại.",
    "password must be at least": f"Mật khẩu phải có ít nhất {accounts.MIN_PASSWORD} ký tự.",
    "password must mix": "Mật khẩu phải gồm cả chữ và số hoặc ký hiệu.",
    "username must be": "Tên đăng nhập chỉ gồm chữ, số, dấu chấm, gạch ngang hoặc gạch dưới.",
    "role must be": "Chọn vai trò.",
}


def _vi(message: str) -> str:
    return next((text for key, text in USER_ERRORS_VI.items() if key in message), "Không tạo được tài khoản.")


def _page(error=None, token=None, status=200, reset_error=None):
    conn = get_db()
    tokens = {r["user_id"]: r["n"] for r in conn.execute(
        "SELECT user_id, COUNT(*) AS n FROM api_tokens WHERE revoked = 0 GROUP BY user_id")}
    return render_template("admin/users.html", users=accounts.all_users(conn), roles=accounts.ROLES, error=error,
                           token=token, tokens=tokens, reset_error=reset_error), status


@bp.route("/nguoi-dung", methods=("GET", "POST"))
@admin_required
def users():
    if request.method == "POST":
        form = request.form
        try:
            user = accounts.create(get_db(), form.get("username", ""), form.get("password", ""), form.get("role", ""),
                                   form.get("full_name", ""), g.now)
        except accounts.UserError as exc:
            return _page(_vi(str(exc)), status=400)
        flash(f"Đã tạo tài khoản {user.username} ({accounts.ROLES[user.role]}).")
        return redirect(url_for("admin.users"), 303)
    return _page()


@bp.post("/nguoi-dung/<int:user_id>/trang-thai")
@admin_required
def toggle(user_id):
    conn = get_db()
    user = accounts.by_id(conn, user_id)
    if user is None:
        abort(404)
    if user.id == g.user.id:
        flash("Không thể tự khóa tài khoản đang đăng nhập.")
    else:
        accounts.set_active(conn, user_id, not user.active)
        flash(f"Đã {'mở khóa' if not user.active else 'khóa'} tài khoản {user.username}.")
    return redirect(url_for("admin.users"), 303)


@bp.post("/nguoi-dung/<int:user_id>/ma-api")
@admin_required
def token(user_id):
    conn = get_db()
    user = accounts.by_id(conn, user_id)
    if user is None or not user.active:
        abort(404)
    label = (request.form.get("label") or "").strip()[:100] or f"tạo trên web bởi {g.user.username}"
    value = accounts.create_token(conn, user, label, g.now)
    return _page(token={"user": user, "value": value})


@bp.post("/nguoi-dung/dat-lai-mat-khau")
@admin_required
def reset_password():
    """An admin sets a temporary password: the user's sessions end; the next login must change it."""
    conn = get_db()
    try:
        user = accounts.by_id(conn, int(request.form.get("user_id", "")))
    except ValueError:
        user = None
    if user is None:
        abort(404)
    if user.id == g.user.id:
        flash("Hãy đổi mật khẩu của chính mình ở trang Đổi mật khẩu.")
        return redirect(url_for("admin.users"), 303)
    try:
        accounts.reset_password(conn, user.id, request.form.get("password", ""))
    except accounts.UserError as exc:
        return _reset_failed(password_error_vi(str(exc), "Không đặt lại được mật khẩu."))
    flash(f"Đã đặt lại mật khẩu của {user.username}; lần đăng nhập sau họ phải đổi mật khẩu.")
    return redirect(url_for("admin.users"), 303)


def _reset_failed(message):
    return _page(reset_error=message, status=400)
