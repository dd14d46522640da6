"""Page access checks both servers' staff pages share (each keeps its own login view)."""
from __future__ import annotations

import functools

from flask import abort, g, redirect, request, url_for


def login_required(view=None, *, roles: tuple[str, ...] = ()):
    """Require a logged-in account (``g.user``); with roles, one of them (admin passes every check)."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if g.user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and not g.user.can(*roles):
                abort(403)
            return fn(*args, **kwargs)
        return wrapped
    return decorate(view) if view else decorate


def safe_next(target: str | None, default: str) -> str:
    """Only a same-site path may be the place a login returns to (no //host or \\ tricks)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
