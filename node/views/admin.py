"""Admin pages: staff accounts."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from service.web_auth import admin_required, login_required, password_error_vi

from .. import reference
from .. import users as accounts
from ..db import get_db
from .health import last_backup_summary

bp = Blueprint("admin", __name__, url_prefix="/quan-tri")

USER_ERRORS_VI = {
    "already exists": "Tên đăng nhập đã tồn tại.",
    "password must be at least": f"Mật khẩu phải có ít nhất {accounts.MIN_PASSWORD} ký tự.",
    "password must mix": "Mật khẩu phải gồm cả chữ và số hoặc ký hiệu.",
    "username must be": "Tên đăng nhập chỉ gồm chữ, số, dấu chấm, gạch ngang hoặc gạch dưới.",
    "role must be": "Chọn vai trò.",
}


def _vi(message: str) -> str:
    for key, text in USER_ERRORS_VI.items():
        if key in message:
            return text
    return "Không tạo được tài khoản."


@bp.route("/nguoi-dung", methods=("GET", "POST"))
@login_required(roles=("admin",))
def users():
    conn = get_db()
    error = None
    if request.method == "POST":
        try:
            user = accounts.create(conn, request.form.get("username", ""), request.form.get("password", ""),
                                request.form.get("role", ""), request.form.get("full_name", ""), g.now)
        except accounts.UserError as exc:
            error = _vi(str(exc))
        else:
            flash(f"Đã tạo tài khoản {user.username}.")
            return redirect(url_for("admin.users"), 303)
    return _page(conn, error=error), (400 if error else 200)


def _page(conn, **extra):
    return render_template("admin/users.html", users=accounts.all_users(conn), roles=accounts.ROLES,
                           catalogue_version=reference.version(conn, "catalogue"),
                           calendar_version=reference.version(conn, "calendar"),
                           backup=last_backup_summary(conn, g.now), **extra)


@bp.route("/nguoi-dung/<int:user_id>/trang-thai", methods=("POST",))
@login_required(roles=("admin",))
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
        return _reset_failed(conn, password_error_vi(str(exc), "Không đặt lại được mật khẩu."))
    flash(f"Đã đặt lại mật khẩu của {user.username}; lần đăng nhập sau họ phải đổi mật khẩu.")
    return redirect(url_for("admin.users"), 303)


def _reset_failed(conn, message):
    return _page(conn, reset_error=message), 400
