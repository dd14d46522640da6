"""SQLite for both servers: connections with durable pragmas, explicit write transactions, and
migrations applied after a copy that is written back if a step fails."""
from __future__ import annotations

import logging
import os
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from domain.clock import local_now

from .files import owner_only, private_dir
from .settings import ConfigError

log = logging.getLogger("motcua.db")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # a receipt handed to a citizen must survive a power cut
    "PRAGMA foreign_keys=ON",
)


def connect(path: str | Path, busy_seconds: int = 15) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (write_tx), never implicit.
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_seconds)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute(f"PRAGMA busy_timeout={busy_seconds * 1000}")
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


class MigrationFailed(ConfigError):
    """A migration step failed; the database was put back as it was. One English line."""


def backup_to(conn: sqlite3.Connection, target: Path) -> Path:
    """Consistent copy through SQLite's online backup API (safe while others write), owner-only.

    The copy is a single self-contained file (rollback-journal mode, no -wal/-shm beside it),
    so it can be carried on a USB disk as it is.
    """
    target = Path(target)
    private_dir(target.parent)
    with owner_only():
        dest = sqlite3.connect(str(target), isolation_level=None)
    try:
        conn.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
    os.chmod(target, 0o600)
    return target


def _one_line(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}").strip()


def migrate(path: Path, migrations, *, backup_dir: Path, restore_hint: str, busy_seconds: int = 15) -> list[str]:
    """Apply pending migrations; copy a database that already has a schema first. Returns applied names.

    Python's ``executescript`` commits before it runs, so a step is not reliably one transaction:
    the database is copied with the backup API first and, if any step fails, that copy is
    written back (again with the backup API, so SQLite's own locks keep every other connection
    safe) and ``MigrationFailed`` says which step failed. Nothing is copied when nothing is pending.
    """
    with owner_only():
        conn = connect(path, busy_seconds)
    os.chmod(path, 0o600)
    try:
        db = Database(conn)
        pending = [m.name for m in migrations.pending(db)]
        if not pending:
            return []
        copy = None
        if migrations.applied(db):
            stamp = local_now().strftime("%Y%m%d-%H%M%S")
            copy = backup_to(conn, Path(backup_dir) / f"pre-migrate-{stamp}.db")
            log.info("copied database to %s before migrating", copy)
        try:
            migrations.apply(db)
        except Exception as exc:
            left = [m.name for m in migrations.pending(db)]
            step = left[0] if left else pending[-1]
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            where = ""
            if copy is not None:
                _write_back(copy, conn, restore_hint)
                where = f"; a copy is in {copy}"
            log.error("migration %s failed: %s", step, _one_line(exc))
            raise MigrationFailed(
                f"database migration {step} failed ({_one_line(exc)}); the database was left as it was{where}. "
                f"Start the previous version again and report this message") from exc
        log.info("applied migrations: %s", ", ".join(pending))
        return pending
    finally:
        conn.close()


def _write_back(copy: Path, conn: sqlite3.Connection, restore_hint: str) -> None:
    """Put the pre-migration copy back into the live database (pages and schema, one transaction)."""
    src = sqlite3.connect(str(copy))
    try:
        src.backup(conn)
    except sqlite3.Error as exc:
        raise MigrationFailed(f"a migration failed and writing the copy {copy} back also failed "
                              f"({_one_line(exc)}); {restore_hint.format(copy=copy)}") from exc
    finally:
        src.close()
