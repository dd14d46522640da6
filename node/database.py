"""Opening the node database at start-up: back up, then migrate; the data folder's run lock.

A failed migration must leave the database exactly as it was. Python 3.11's
``executescript`` commits before it runs, so a migration step is not reliably one
transaction; instead the database is copied with the backup API first and, if any step
fails, that copy is written back over it (again with the backup API, so SQLite's own locks
keep every other connection safe) before the error is reported.
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import sys
from pathlib import Path

from sqlite_utils import Database

from migrations.node import migrations
from service.settings import ConfigError

from .clock import local_now
from .db import connect

log = logging.getLogger("motcua.node")
LOCK_NAME = "node.lock"


class MigrationFailed(ConfigError):
    """A migration step failed; the database was put back as it was. One English line."""


class NodeRunning(ConfigError):
    """Another process (``motcua-node run`` or a restore) holds the data folder."""


def backup_to(conn: sqlite3.Connection, target: Path) -> Path:
    """Consistent copy through SQLite's online backup API (safe while others write).

    The copy is a single self-contained file (rollback-journal mode, no -wal/-shm beside it),
    so it can be carried on a USB disk as it is.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(str(target), isolation_level=None)
    try:
        conn.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
    return target


def _one_line(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}").strip()


def migrate(path: Path, backup_dir: Path | None = None) -> list[str]:
    """Apply pending migrations; copy a database that already has a schema first. Returns applied names.

    Nothing is copied or written when no migration is pending. When a step fails, the copy is
    written back (the database is left as it was) and ``MigrationFailed`` says which step failed.
    """
    conn = connect(path)
    try:
        db = Database(conn)
        pending = [m.name for m in migrations.pending(db)]
        if not pending:
            return []
        has_data = bool(migrations.applied(db))
        copy = None
        if has_data:
            stamp = local_now().strftime("%Y%m%d-%H%M%S")
            folder = Path(backup_dir) if backup_dir is not None else Path(path).parent / "backups"
            copy = backup_to(conn, folder / f"pre-migrate-{stamp}.db")
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
                _write_back(copy, conn)
                where = f"; a copy is in {copy}"
            log.error("migration %s failed: %s", step, _one_line(exc))
            raise MigrationFailed(
                f"database migration {step} failed ({_one_line(exc)}); the database was left as it was{where}. "
                f"Start the previous version again and report this message") from exc
        log.info("applied migrations: %s", ", ".join(pending))
        return pending
    finally:
        conn.close()


def _write_back(copy: Path, conn: sqlite3.Connection) -> None:
    """Put the pre-migration copy back into the live database (pages and schema, one transaction)."""
    src = sqlite3.connect(str(copy))
    try:
        src.backup(conn)
    except sqlite3.Error as exc:
        raise MigrationFailed(f"a migration failed and writing the copy {copy} back also failed "
                              f"({_one_line(exc)}); restore it with: motcua-node restore {copy}") from exc
    finally:
        src.close()


class FolderLock:
    """An exclusive, advisory lock on ``<data>/node.lock`` held while the node runs (or is restored).

    The operating system drops it when the process ends, even on a kill or a power cut, so a
    stale lock file never blocks a start. POSIX uses flock(2), Windows msvcrt.locking.
    """

    def __init__(self, data_dir: Path, purpose: str = "run"):
        self.path = Path(data_dir) / LOCK_NAME
        self.purpose = purpose
        self._file = None

    def acquire(self) -> "FolderLock":
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            _lock(handle)
        except OSError:
            holder = _read_holder(handle)
            handle.close()
            raise NodeRunning(f"the node in {self.path.parent} is in use ({holder}); stop it first "
                              f"(systemctl stop motcua-node, or close its window)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} {self.purpose} since {local_now():%Y-%m-%d %H:%M:%S}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            try:
                _unlock(self._file)
            finally:
                self._file.close()
                self._file = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(data_dir: Path) -> bool:
    """True while some process holds the folder's lock (probed without writing to it)."""
    path = Path(data_dir) / LOCK_NAME
    if not path.exists():
        return False
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            _lock(handle)
        except OSError:
            return True
        _unlock(handle)
    return False


def _read_holder(handle) -> str:
    try:
        handle.seek(0)
        return handle.read(200).strip() or "another process"
    except OSError:  # Windows: the locked byte cannot be read by others
        return "another process"


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
