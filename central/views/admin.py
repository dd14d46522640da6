"""Tài khoản: central's accounts (admin, viewer) — the shared account pages (appshell.web_admin) plus
issuing an API token."""
from __future__ import annotations

from flask import abort, g, render_template, request

from appshell import accounts
from appshell.web_admin import admin_blueprint
from appshell.web_auth import admin_required

from .. import roles
from ..db import get_db
from ..store.accounts import open_token_counts


def _page(conn, token=None, **context):
    return render_template("admin/users.html", users=accounts.all_users(conn), roles=roles.ROLES,
                           default_role="viewer",
                           token=token, tokens=open_token_counts(conn), **context)



bp = admin_blueprint(roles.ROLES, get_db, _page)


@bp.post("/nguoi-dung/<int:user_id>/ma-api")
@admin_required
def token(user_id):
    conn = get_db()
    user = accounts.by_id(conn, user_id)
    if user is None or not user.active:
        abort(404)
    label = (request.form.get("label") or "").strip()[:100] or f"tạo trên web bởi {g.user.username}"
    value = accounts.create_token(conn, user, label, g.now, prefix=roles.TOKEN_PREFIX)
    return _page(conn, token={"user": user, "value": value})
