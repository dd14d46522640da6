"""Admin pages: staff accounts (appshell.web_admin), with the node's reference versions and last backup."""
from __future__ import annotations

from flask import g, render_template

from appshell import accounts
from appshell.web_admin import admin_blueprint

from .. import reference, roles
from ..db import get_db
from .health import last_backup_summary


def _page(conn, **context):
    return render_template("admin/users.html", users=accounts.all_users(conn), roles=roles.ROLES,
                           default_role="clerk",
                           catalogue_version=reference.version(conn, "catalogue"),
                           calendar_version=reference.version(conn, "calendar"),
                           backup=last_backup_summary(conn, g.pc_now), **context)


bp = admin_blueprint(roles.ROLES, get_db, _page)
