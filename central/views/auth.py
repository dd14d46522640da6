"""Staff login, logout and own password change for central's pages (appshell.web_auth).

The JSON API authenticates every request by its Bearer token, never by the session.
"""
from __future__ import annotations

from appshell.web_auth import auth_blueprint

from ..db import get_db

bp = auth_blueprint("overview.index", get_db, logger="motcua.central", skip_prefixes=("/api/",))
