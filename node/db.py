"""The node's database connection per request (Flask g), closed on teardown."""
from __future__ import annotations

from flask import current_app, g

from service.sqlite import connect, write_tx  # noqa: F401  (re-exported for the node's modules)


def get_db():
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app) -> None:
    app.teardown_appcontext(close_db)
