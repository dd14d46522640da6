"""Building a store Context for the current request."""
from __future__ import annotations

from flask import current_app, g

from ..db import get_db
from ..store import Context


def store_context(actor: str | None = None) -> Context:
    settings = current_app.config["MOTCUA"]
    return Context(conn=get_db(), node=settings["agency_code"], agency=settings["agency_code"],
                   actor=actor or g.user.username, now=g.now, pc_now=g.pc_now,
                   calendar_cache=current_app.extensions["motcua.calendar"])
