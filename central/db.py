"""SQLite for central: one connection per request (Flask g) or per command, durable pragmas,
explicit BEGIN IMMEDIATE transactions, migrations applied at start."""
from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

from sqlite_utils import Database

from migrations.central import migrations
from service import sqlite
from service.sqlite import write_tx  # noqa: F401  (re-exported for central's modules)

# central serves many nodes at once: writers may queue a little longer than at a commune desk
connect = partial(sqlite.connect, busy_seconds=30)


def migrate(path: Path) -> list[str]:
    conn = connect(path)
    try:
        db = Database(conn)
        pending = [m.name for m in migrations.pending(db)]
        if pending:
            migrations.apply(db)
        return pending
    finally:
        conn.close()


def get_db() -> sqlite3.Connection:
    from flask import current_app, g
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exc=None) -> None:
    from flask import g
    db = g.pop("db", None)
    if db is not None:
        db.close()
