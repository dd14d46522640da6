"""The central database: one connection per request (Flask g) or per command, and migration at
start-up after a copy that is written back if a step fails (service.sqlite.migrate)."""
from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

from migrations.central import migrations
from service import sqlite

# central serves many nodes at once: writers may queue a little longer than at a commune desk
connect = partial(sqlite.connect, busy_seconds=30)


def migrate(path: Path, backup_dir: Path | None = None) -> list[str]:
    """Apply pending migrations, copying a database that already has a schema to backups/ first."""
    folder = Path(backup_dir) if backup_dir is not None else Path(path).parent / "backups"
    return sqlite.migrate(path, migrations, backup_dir=folder, busy_seconds=30,
                          restore_hint="stop central and copy {copy} over the database file")


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
