"""Staff login, logout and own password change for the node's pages (appshell.web_auth)."""
from __future__ import annotations

from appshell.web_auth import auth_blueprint

from ..db import get_db

bp = auth_blueprint("desk.home", get_db, logger="motcua.node")
