"""The account pages both servers' admins use (/quan-tri/nguoi-dung): add, disable or enable, and
reset a password. Each app gives its roles (name -> Vietnamese label), its database getter and how to render its own
``admin/users.html`` (the node shows reference versions and the last backup there, central API tokens)."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from . import accounts
from .accounts import MIN_PASSWORD
from .web_auth import admin_required, password_error_vi

USER_ERRORS_VI = {
    "already exists": "Tên đăng nhập đã tồn tại.",
    "password must be at least": f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự.",
    "password must mix": "Mật khẩu phải gồm cả chữ và số hoặc ký hiệu.",
    "username must be": "Tên đăng nhập chỉ gồm chữ, số, dấu chấm, gạch ngang hoặc gạch dưới.",
    "role must be": "Chọn vai trò.",
}


def user_error_vi(message: str) -> str:
    return next((text for key, text in USER_ERRORS_VI.items() if key in message), "Không tạo được tài khoản.")


def admin_blueprint(roles: dict[str, str], get_db: Callable, render_page: Callable) -> Blueprint:
    """The ``admin`` blueprint; ``render_page(conn, **context)`` renders the app's admin/users.html."""
    # admin/_reset_password.html (appshell/templates) is the reset form both apps' admin/users.html include
    bp = Blueprint("admin", __name__, url_prefix="/quan-tri", template_folder="templates")

    def back():
        return redirect(url_for("admin.users"), 303)

    @admin_required
    def users_page():
        conn = get_db()
        if request.method == "POST":
            form = request.form
            try:
                user = accounts.create(conn, form.get("username", ""), form.get("password", ""), form.get("role", ""),
                                       form.get("full_name", ""), g.now, roles=roles)
            except accounts.UserError as exc:
                return render_page(conn, error=user_error_vi(str(exc))), 400
            flash(f"Đã tạo tài khoản {user.username} ({roles[user.role]}).")
            return back()
        return render_page(conn)
    bp.add_url_rule("/nguoi-dung", "users", users_page, methods=("GET", "POST"))

    def account(conn, user_id):
        user = accounts.by_id(conn, user_id)
        if user is None:
            abort(404)
        return user

    @bp.post("/nguoi-dung/<int:user_id>/trang-thai")
    @admin_required
    def toggle(user_id):
        conn = get_db()
        user = account(conn, user_id)
        if user.id == g.user.id:
            flash("Không thể tự khóa tài khoản đang đăng nhập.")
        else:
            accounts.set_active(conn, user_id, not user.active)  # disabling ends the user's sessions at once
            flash(f"Đã {'mở khóa' if not user.active else 'khóa'} tài khoản {user.username}.")
        return back()

    @bp.post("/nguoi-dung/dat-lai-mat-khau")
    @admin_required
    def reset_password():
        """A temporary password: the user's sessions end and the next login must change it."""
        conn = get_db()
        try:
            user = account(conn, int(request.form.get("user_id", "")))
        except ValueError:
            abort(404)
        if user.id == g.user.id:
            flash("Hãy đổi mật khẩu của chính mình ở trang Đổi mật khẩu.")
            return back()
        try:
            accounts.reset_password(conn, user.id, request.form.get("password", ""))
        except accounts.UserError as exc:
            return render_page(conn, reset_error=password_error_vi(str(exc), "Không đặt lại được mật khẩu.")), 400
        flash(f"Đã đặt lại mật khẩu của {user.username}; lần đăng nhập sau họ phải đổi mật khẩu.")
        return back()

    return bp
