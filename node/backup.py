"""Backups of the node database: copy while serving, verify, name by date, prune; restore; a daily thread.

- ``make_backup`` copies the live database with SQLite's online backup API (clerks keep working),
  checks the copy with ``PRAGMA integrity_check``, then gives it its final name
  ``motcua-node-YYYYmmdd-HHMMSS.db`` in the backup folder (setting ``backup_dir``, default
  ``<data>/backups``; it may be a USB disk) and prunes old copies: the newest backup of each of the
  last ``backup_keep_daily`` days that have one, and of each of the last ``backup_keep_weekly``
  ISO weeks, are kept; other ``motcua-node-*.db`` files in that folder are deleted. Copies made
  before a migration, a recovery or a restore (``pre-*.db``) are never pruned.
- ``restore`` installs a backup into a stopped node after checking it thoroughly (header and size,
  ``quick_check`` and ``integrity_check``, the expected tables, a schema this version knows, an
  intact event chain that belongs to this node). The current database is copied to
  ``backups/pre-restore-*.db`` first. The restored log may be behind what central already holds:
  the next sync's hello then finds central ahead (a fork) and stops with a message telling the
  technician to run ``motcua-node recover``, which keeps central's events and re-applies newer
  local ones — nothing already synced is lost.
- ``BackupScheduler`` is a daemon thread in ``motcua-node run``: it makes a backup when the last
  one is older than 24 hours (checked every few minutes) and truncates the WAL file when the
  database has been idle for a while (``PRAGMA wal_checkpoint(TRUNCATE)``).

The last backup's time, path and any error are kept in ``sync_state`` (``last_backup_at``,
``last_backup_path``, ``last_backup_error``, ``last_backup_error_at``).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from appshell.files import fsync_dir
from appshell.sqlite import backup_to, connect, write_tx
from migrations.node import migrations

from . import events, sync_state
from .clock import local_now
from .db import FolderLock, migrate
from .settings import DB_NAME

log = logging.getLogger("motcua.backup")

NAME_RE = re.compile(r"^motcua-node-(\d{8})-(\d{6})(?:-(\d+))?\.db$")
REQUIRED_TABLES = ("users", "procedures", "calendar_entries", "reference_versions", "counters", "dossiers",
                   "events", "access_log", "sync_state", "_sqlite_migrations")
ENROLMENT_KEYS = ("node_id", "central_url", "central_public_key", "central_fingerprint", "node_fingerprint",
                  "enrolled_at")
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore that did not happen; the message is one English line."""


# --- where and how backups are named --------------------------------------------------------

def backup_folder(data_dir: Path, settings: dict) -> Path:
    """The configured ``backup_dir`` (relative to the data folder), or ``<data>/backups``."""
    configured = (settings.get("backup_dir") or "").strip()
    if not configured:
        return Path(data_dir) / "backups"
    folder = Path(configured).expanduser()
    return folder if folder.is_absolute() else Path(data_dir) / folder


def backup_name(now: datetime, n: int = 0) -> str:
    return f"motcua-node-{now:%Y%m%d-%H%M%S}{f'-{n}' if n else ''}.db"


def stamp_of(path: Path) -> datetime | None:
    match = NAME_RE.match(Path(path).name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None


def list_backups(folder: Path) -> list[tuple[datetime, Path]]:
    """Backups in ``folder`` named by this module, newest first."""
    found = []
    if Path(folder).is_dir():
        for path in Path(folder).iterdir():
            stamp = stamp_of(path)
            if stamp is not None and path.is_file():
                found.append((stamp, int(NAME_RE.match(path.name).group(3) or 0), path))
    return [(stamp, path) for stamp, _n, path in sorted(found, key=lambda item: item[:2], reverse=True)]


def choose_kept(stamps: list[datetime], keep_daily: int, keep_weekly: int) -> set[datetime]:
    """Grandfather-father-son: the newest stamp of each of the last N days and M ISO weeks that have one."""
    kept: set[datetime] = set()
    days: list = []
    weeks: list = []
    for stamp in sorted(stamps, reverse=True):
        day, week = stamp.date(), stamp.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.append(day)
            kept.add(stamp)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            kept.add(stamp)
    return kept


def prune(folder: Path, keep_daily: int, keep_weekly: int, protect: tuple[Path, ...] = ()) -> list[Path]:
    """Delete backups the retention rule does not keep (never one in ``protect``). Returns deleted paths."""
    backups = list_backups(folder)
    kept = choose_kept([stamp for stamp, _ in backups], keep_daily, keep_weekly)
    seen: set[datetime] = set()
    protected = {Path(p).resolve() for p in protect}
    removed = []
    for stamp, path in backups:  # newest first: the first file of a kept stamp stays
        if stamp in kept and stamp not in seen:
            seen.add(stamp)
            continue
        if path.resolve() in protected:
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError as exc:
            log.warning("could not delete old backup %s: %s", path.name, exc)
    return removed


# --- checking a database file ----------------------------------------------------------------

def sqlite_uri(path: Path, mode: str) -> str:
    """A ``file:`` URI SQLite reads the same on Windows and POSIX (drive letters, spaces, accents)."""
    return f"{Path(path).resolve().as_uri()}?mode={mode}"


def file_problems(path: Path, *, full: bool = True, chain: bool = False, agency: str | None = None) -> list[str]:
    """What is wrong with the database file at ``path`` (empty list: nothing found).

    Opens the file read-write (it must be a private copy); ``full`` adds ``integrity_check`` to
    ``quick_check``; ``chain`` walks the event log and, with ``agency``, checks it is this node's.
    """
    path = Path(path)
    if not path.is_file():
        return [f"{path} does not exist"]
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return ["it is not an SQLite database file (wrong header)"]
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and pages and size < page_size * pages:
        return [f"the file is truncated: its header says {page_size * pages} bytes, it has {size}"]
    if size % page_size:
        return [f"the file is truncated: {size} bytes is not a whole number of {page_size}-byte pages"]
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
    except sqlite3.Error as exc:
        return [f"it cannot be opened: {exc}"]
    conn.row_factory = sqlite3.Row
    try:
        problems = _content_problems(conn, full=full, chain=chain, agency=agency)
    except sqlite3.DatabaseError as exc:
        problems = [f"it is damaged: {exc}"]
    finally:
        conn.close()
    return problems


def _content_problems(conn, *, full: bool, chain: bool, agency: str | None) -> list[str]:
    for pragma in ("quick_check", "integrity_check") if full else ("quick_check",):
        rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}(5)")]
        if rows != ["ok"]:
            return [f"{pragma} found damage: {'; '.join(rows)[:300]}"]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        return [f"it is not a motcua node database (no table {missing[0]})"]
    known = {m.name for m in migrations._migrations}
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                          (migrations.name,))]
    newer = [name for name in applied if name not in known]
    if newer:
        return [f"it was made by a newer version of motcua (unknown migration {newer[0]}); upgrade first"]
    if chain:
        from protocol.events import ChainError
        if agency is not None:
            nodes = [r[0] for r in conn.execute("SELECT DISTINCT json_extract(body, '$.node') FROM events")]
            other = [n for n in nodes if n != agency]
            if other:
                return [f"it belongs to another node ({other[0]}), this node is {agency}"]
        try:
            events.verify_all(conn)
        except (ChainError, ValueError, KeyError, TypeError) as exc:
            return [f"its event log is broken: {exc}"]
    return []


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """``PRAGMA quick_check`` on an open connection: [] when ok, else up to 5 findings."""
    rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    return [] if rows == ["ok"] else rows


# --- making a backup -------------------------------------------------------------------------

@dataclass
class BackupResult:
    path: Path
    size: int
    at: str
    seconds: float
    pruned: list[Path] = field(default_factory=list)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _clean_partials(folder: Path, older_than: float = 3600) -> None:
    """Remove half-written copies left by a crash or a kill during an earlier backup."""
    cutoff = time.time() - older_than
    for path in folder.glob(".motcua-node-*.partial*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def _record(data_dir: Path, **values) -> None:
    try:
        conn = connect(Path(data_dir) / DB_NAME)
        try:
            sync_state.put(conn, **values)
        finally:
            conn.close()
    except sqlite3.Error as exc:  # e.g. the disk is full: the log line is all we can leave
        log.warning("could not record backup state: %s", exc)


def make_backup(data_dir: Path, settings: dict, to: Path | None = None, now: datetime | None = None) -> BackupResult:
    """Copy, verify, name and prune; records the result in sync_state. Raises BackupError."""
    data_dir = Path(data_dir)
    now = now or local_now()
    folder = Path(to) if to is not None else backup_folder(data_dir, settings)
    started = time.monotonic()
    try:
        result = _make_backup(data_dir, settings, folder, now, started)
    except BackupError as exc:
        _record(data_dir, last_backup_error=str(exc), last_backup_error_at=now.isoformat())
        raise
    _record(data_dir, last_backup_at=result.at, last_backup_path=str(result.path), last_backup_error=None,
            last_backup_error_at=None)
    return result


def _make_backup(data_dir: Path, settings: dict, folder: Path, now: datetime, started: float) -> BackupResult:
    if not folder.is_dir():
        if not folder.parent.is_dir():
            raise BackupError(f"backup folder {folder} cannot be created: {folder.parent} does not exist "
                              f"(is the USB disk plugged in?)")
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise BackupError(f"backup folder {folder} cannot be created: {exc.strerror or exc}") from None
    _clean_partials(folder)
    partial = folder / f".{backup_name(now)}.partial-{os.getpid()}-{threading.get_ident()}"
    try:
        conn = connect(data_dir / DB_NAME)
        try:
            backup_to(conn, partial)
        finally:
            conn.close()
        problems = file_problems(partial, full=True)
        if problems:
            raise BackupError(f"the copy failed its check and was deleted: {problems[0]}")
        _fsync_file(partial)
        _copy_blobs(data_dir, partial, folder)  # a backup file only exists once its blobs are beside it
        n = 0
        while (folder / backup_name(now, n)).exists():
            n += 1
        final = folder / backup_name(now, n)
        os.replace(partial, final)
        fsync_dir(folder)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"backup to {folder} failed: {type(exc).__name__}: {exc}") from None
    finally:
        for leftover in folder.glob(partial.name + "*"):
            leftover.unlink(missing_ok=True)
    pruned = prune(folder, settings.get("backup_keep_daily", 7), settings.get("backup_keep_weekly", 4),
                   protect=(final,))
    if pruned:
        _prune_blobs(folder)
    return BackupResult(path=final, size=final.stat().st_size, at=now.isoformat(),
                        seconds=time.monotonic() - started, pruned=pruned)


def last_backup(conn) -> tuple[str | None, str | None]:
    """(ISO time, path) of the last successful backup, or (None, None)."""
    return sync_state.get(conn, "last_backup_at"), sync_state.get(conn, "last_backup_path")


def backup_age_hours(conn, now: datetime) -> float | None:
    """Hours since the last successful backup (None: never). For the admin page and the doctor."""
    at, _ = last_backup(conn)
    if not at:
        return None
    return max(0.0, (now - datetime.fromisoformat(at)).total_seconds() / 3600)


# --- restoring -------------------------------------------------------------------------------

@dataclass
class RestoreResult:
    source: Path
    kept_copy: Path | None
    events: int
    dossiers: int
    migrated: list[str]
    key_missing: bool = False  # enrolled with central, but node.key is not in the folder
    blobs: int = 0  # document blobs brought back and verified against their hashes


def _sync_values(path: Path) -> dict:
    try:
        conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True)
        try:
            return {k: v for k, v in conn.execute("SELECT key, value FROM sync_state")}
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def _keep_current(db_path: Path, folder: Path, now: datetime) -> Path:
    """Copy the database being replaced into ``folder`` (backup API; raw files if it is too damaged)."""
    target = folder / f"pre-restore-{now:%Y%m%d-%H%M%S}.db"
    try:
        conn = connect(db_path)
        try:
            backup_to(conn, target)
        finally:
            conn.close()
        return target
    except sqlite3.Error:
        target.unlink(missing_ok=True)
        raw = folder / f"pre-restore-{now:%Y%m%d-%H%M%S}-raw"
        raw.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal"):
            if Path(f"{db_path}{suffix}").exists():
                shutil.copy2(f"{db_path}{suffix}", raw / f"{DB_NAME}{suffix}")
        return raw


def restore(data_dir: Path, settings: dict, source: Path, now: datetime | None = None,
            blob_key: Path | None = None) -> RestoreResult:
    """Install ``source`` as the node database of a stopped node. Raises NodeRunning or BackupError."""
    data_dir, source = Path(data_dir), Path(source)
    now = now or local_now()
    with FolderLock(data_dir, "restore"):
        if not source.is_file():
            raise BackupError(f"refusing to restore {source}: no such file")
        db_path = data_dir / DB_NAME
        candidate = data_dir / f"{DB_NAME}.restoring"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{candidate}{suffix}").unlink(missing_ok=True)
        try:
            shutil.copyfile(source, candidate)
            _fsync_file(candidate)
        except OSError as exc:
            raise BackupError(f"refusing to restore {source}: cannot copy it ({exc.strerror or exc})") from None
        try:
            problems = file_problems(candidate, full=True, chain=True, agency=settings["agency_code"])
            if problems:
                raise BackupError(f"refusing to restore {source}: {problems[0]}")
            current = _sync_values(db_path) if db_path.exists() else {}
            theirs = _sync_values(candidate)
            if current.get("node_id") and theirs.get("node_id") and current["node_id"] != theirs["node_id"]:
                raise BackupError(f"refusing to restore {source}: it was enrolled as node {theirs['node_id']}, "
                                  f"this node is {current['node_id']}")
            _prepare(candidate, current, theirs, source, now)
            restored_blobs = _restore_blobs(data_dir, candidate, source, blob_key)
            kept = _keep_current(db_path, data_dir / "backups", now) if db_path.exists() else None
            for suffix in ("-wal", "-shm", "-journal"):  # the old WAL must never replay onto the new file
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            os.replace(candidate, db_path)
            fsync_dir(data_dir)
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{candidate}{suffix}").unlink(missing_ok=True)
        migrated = migrate(db_path, backup_dir=data_dir / "backups")
        conn = connect(db_path)
        try:
            with write_tx(conn):
                conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, 'restored', NULL, ?)",
                             (now.isoformat(), f"database restored from backup {source.name}; the previous one "
                                               f"was kept as {kept.name if kept else '(none)'}"))
            head = events.head(conn).seq
            dossiers = conn.execute("SELECT count(*) FROM dossiers").fetchone()[0]
            enrolled = bool(sync_state.get(conn, "central_public_key"))
        finally:
            conn.close()
    log.info("restored database from %s (%d events); previous copy kept as %s", source.name, head, kept)
    return RestoreResult(source=source, kept_copy=kept, events=head, dossiers=dossiers, migrated=migrated,
                         key_missing=enrolled and not (data_dir / "node.key").exists(), blobs=restored_blobs)


def _prepare(candidate: Path, current: dict, theirs: dict, source: Path, now: datetime) -> None:
    """Carry the enrolment over (the key file stays in the folder) and mark the restore in sync_state.

    The acknowledged head is left as the backup recorded it: the next hello compares it with
    central's and, when central holds more, reports the fork that `motcua-node recover` resolves.
    """
    carry = {k: current[k] for k in ENROLMENT_KEYS if current.get(k) and not theirs.get(k)}
    conn = connect(candidate)
    try:
        sync_state.put(conn, **carry, restored_at=now.isoformat(), restored_from=source.name,
                       last_error=None, last_error_kind=None, last_error_at=None,
                       last_backup_at=current.get("last_backup_at"),
                       last_backup_path=current.get("last_backup_path"))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


# --- the daily backup and idle checkpoints inside `motcua-node run` ---------------------------

class BackupScheduler:
    """A daemon thread: a backup when the last one is older than ``max_age_hours``; WAL truncation when idle."""

    def __init__(self, data_dir: Path, settings: dict, *, max_age_hours: float = 24, check_seconds: float = 300,
                 first_check_seconds: float = 60, idle_seconds: float = 30, tick_seconds: float = 5):
        self.data_dir, self.settings = Path(data_dir), settings
        self.max_age = timedelta(hours=max_age_hours)
        self.check_seconds, self.first_check_seconds = check_seconds, first_check_seconds
        self.idle_seconds, self.tick_seconds = idle_seconds, tick_seconds
        self.checkpoints = 0
        self.backups = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="motcua-backup", daemon=True)
        self._last_failure: tuple[str, float] | None = None

    def start(self) -> BackupScheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        next_check = time.monotonic() + self.first_check_seconds
        while not self._stop.wait(self.tick_seconds):
            try:
                self.checkpoint_if_idle()
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.check_seconds
                    self.backup_if_due()
            except Exception:  # never let the thread die: log and try again later
                log.exception("backup scheduler error")

    def backup_if_due(self, now: datetime | None = None) -> BackupResult | None:
        now = now or local_now()
        conn = connect(self.data_dir / DB_NAME)
        try:
            at, _ = last_backup(conn)
        finally:
            conn.close()
        if at and now - datetime.fromisoformat(at) < self.max_age:
            return None
        try:
            result = make_backup(self.data_dir, self.settings, now=now)
        except BackupError as exc:
            self._log_failure(str(exc))
            return None
        self.backups += 1
        self._last_failure = None
        log.info("daily backup written to %s (%.1f MB, integrity ok) in %.1f s; %d old backups pruned",
                 result.path, result.size / 2**20, result.seconds, len(result.pruned))
        return result

    def _log_failure(self, message: str) -> None:
        """The same failure is logged once an hour, a new one at once."""
        now = time.monotonic()
        if self._last_failure is None or self._last_failure[0] != message or now - self._last_failure[1] > 3600:
            log.warning("daily backup failed: %s", message)
            self._last_failure = (message, now)

    def checkpoint_if_idle(self) -> bool:
        """Fold the WAL back into the database file and truncate it once no write happened for a while."""
        wal = Path(f"{self.data_dir / DB_NAME}-wal")
        try:
            st = wal.stat()
        except FileNotFoundError:
            return False
        if st.st_size == 0 or time.time() - st.st_mtime < self.idle_seconds:
            return False
        conn = connect(self.data_dir / DB_NAME, busy_seconds=1)
        try:
            busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError as exc:  # locked or disk full: try again at the next tick
            log.debug("idle checkpoint skipped: %s", exc)
            return False
        finally:
            conn.close()
        if not busy:
            self.checkpoints += 1
        return not busy


# --- document blobs (issue 10) ---------------------------------------------------------------
# Backups carry the blobs still encrypted, in <backup folder>/blobs/ (content-addressed, so shared by every
# backup in the folder and copied only once). The data key (blobs.key) is never copied there: a technician
# writes it where they choose with `motcua-node blobs export-key --to FILE` and hands it to a restore into a
# fresh folder with `motcua-node restore --blob-key FILE`.

def _blob_hashes(db_file: Path) -> list[str]:
    conn = sqlite3.connect(sqlite_uri(db_file, "ro"), uri=True)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'blobs'").fetchone():
            return []
        out = set()
        for digest, thumb in conn.execute("SELECT hash, thumb FROM blobs"):
            out.add(digest)
            if thumb:
                out.add(thumb)
        return sorted(out)
    finally:
        conn.close()


def _copy_blobs(data_dir: Path, db_copy: Path, folder: Path) -> int:
    from .blobs import FOLDER, BlobError, copy_encrypted
    try:
        return copy_encrypted(Path(data_dir) / FOLDER, folder / FOLDER, _blob_hashes(db_copy))
    except BlobError as exc:
        raise BackupError(f"backup to {folder} failed: {exc}; run motcua-node doctor") from None


def _restore_blobs(data_dir: Path, candidate: Path, source: Path, blob_key: Path | None) -> int:
    """Bring back every blob the backup names from the blobs folder beside it, and verify each one."""
    from .blobs import BlobError
    digests = _blob_hashes(candidate)
    if not digests:
        return 0
    try:
        return _install_blobs(data_dir, candidate, source, blob_key, digests)
    except BlobError as exc:
        raise BackupError(f"refusing to restore {source}: {exc}") from None


def _install_blobs(data_dir: Path, candidate: Path, source: Path, blob_key: Path | None, digests: list[str]) -> int:
    from .blobs import FOLDER, KEY_NAME, BlobError, BlobStore, copy_encrypted, read_key_file, write_key_file
    key_path = Path(data_dir) / KEY_NAME
    if blob_key is not None:
        given = read_key_file(blob_key)
        if key_path.exists() and read_key_file(key_path) != given:
            raise BackupError(f"refusing to restore {source}: the folder already has another blob key ({key_path})")
        if not key_path.exists():
            write_key_file(key_path, given)
    if not key_path.exists():
        raise BackupError(f"refusing to restore {source}: it holds {len(digests)} document blobs and this folder "
                          f"has no blob key; give the key saved with `motcua-node blobs export-key` as --blob-key")
    try:
        copy_encrypted(Path(source).parent / FOLDER, Path(data_dir) / FOLDER, digests)
    except BlobError as exc:
        raise BackupError(f"refusing to restore {source}: {exc} (the blobs folder beside the backup)") from None
    blobs = BlobStore(data_dir, create_key=False)
    for digest in digests:
        problem = blobs.verify(digest)
        if problem:
            raise BackupError(f"refusing to restore {source}: {problem}")
    return len(digests)


def _prune_blobs(folder: Path, min_age: float = 3600) -> int:
    """Delete blob files in ``folder/blobs`` that no backup left in the folder names (older than ``min_age``,
    so the blobs of a backup still being written are safe). Returns files deleted."""
    from .blobs import FOLDER
    root = folder / FOLDER
    if not root.is_dir():
        return 0
    named: set[str] = set()
    for db_file in [p for _stamp, p in list_backups(folder)] + sorted(folder.glob("pre-*.db")):
        try:
            named.update(_blob_hashes(db_file))
        except sqlite3.Error:
            return 0  # an unreadable backup: keep every blob rather than guess
    cutoff = time.time() - min_age
    removed = 0
    for path in root.glob("??/*"):
        if path.is_file() and path.name not in named and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
