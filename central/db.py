"""SQLite for central: one connection per request (Flask g) or per command, durable pragmas,
explicit BEGIN IMMEDIATE transactions, migrations applied at start."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from migrations.central import migrations

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


@contextmanager
def write_tx(conn: sqlite3.Connection):
    """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue, never deadlock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


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
