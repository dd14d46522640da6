"""Backing up and restoring central's database, on either engine.

- SQLite: SQLite's online backup API copies the live file page by page into a consistent copy
  while central keeps serving; restoring checks the copy (integrity, a central schema) and puts it
  in place, keeping the replaced file as ``motcua-central.db.before-restore``.
- PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot, central keeps serving);
  restoring runs ``pg_restore`` into the configured database in one transaction. A dump is a
  point in time; for point-in-time recovery use WAL archiving or pgBackRest (docs/DBA.md).

After a restore from an older backup the nodes resend what central lost (the push path answers
with central's older head and the node resends from there), see docs/OPERATIONS.md.
"""
from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from appshell.settings import ConfigError

from .store.backend import is_postgres, redacted


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program (pg_dump, pg_restore): $PATH, else Debian's folders."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(folder) / name, os.X_OK):
            return str(Path(folder) / name)
    raise ConfigError(f"{name} not found: install the PostgreSQL client programs (Debian: postgresql-client)")


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ConfigError(f"{what} failed: {redacted(detail[-1] if detail else 'exit code ' + str(result.returncode))}")


def backup_database(target, out: Path) -> Path:
    """Write a consistent copy of central's database to ``out`` (never over an existing file)."""
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} already exists; choose a new file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if is_postgres(target):
            _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(partial),
                  "--dbname", target], "pg_dump")
        else:
            source = sqlite3.connect(f"file:{Path(target)}?mode=ro", uri=True)
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def _check_sqlite_copy(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            has_nodes = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'nodes'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a SQLite backup of central: {exc}") from None
    if ok != "ok" or not has_nodes:
        raise ConfigError(f"{path} is not a sound backup of central's database ({ok})")


def restore_database(source: Path, target, *, force: bool = False) -> None:
    """Put a backup written by ``backup_database`` back as central's database (central stopped)."""
    source = Path(source)
    if is_postgres(target):
        from .db import connect
        conn = connect(target)
        try:
            used = conn.execute("SELECT to_regclass('nodes') IS NOT NULL").fetchone()[0]
        finally:
            conn.close()
        if used and not force:
            raise ConfigError(f"{redacted(target)} already holds central's tables; restore into an empty database "
                              "or pass --force to replace them")
        args = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                "--dbname", target]
        if used:
            args += ["--clean", "--if-exists"]
        _run(args + [str(source)], "pg_restore")
        return
    _check_sqlite_copy(source)
    target = Path(target)
    staged = target.with_name(target.name + ".restoring")
    staged.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(staged)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    if target.exists():
        old = sqlite3.connect(target)
        try:  # fold the replaced file's write-ahead log into it, so the kept copy is whole
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        os.replace(target, target.with_name(target.name + ".before-restore"))
    os.replace(staged, target)


# --- document blobs (issue 11) -----------------------------------------------------------------------
# A backup FILE of the database has its blob objects beside it in FILE.blobs/, laid out as central's
# own store (<h[:2]>/<h>). The objects are copied as they are: encrypted (MCT1, each blob's key sealed
# to central's key), so the backup disk shows no ID card without central's key. The database is copied
# first and the objects after: objects are never rewritten, so every object the copied database names
# is in the copy (one that arrived in between is an extra that `blobs check` reports as unreferenced).

BLOBS_SUFFIX = ".blobs"


def blobs_folder(backup_file: Path) -> Path:
    backup_file = Path(backup_file)
    return backup_file.with_name(backup_file.name + BLOBS_SUFFIX)


def _copy_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _objects(root: Path):
    from .blobstore import FileStorage
    storage = FileStorage(root)
    for digest in storage.digests():
        yield digest, storage.path(digest)


def backup_blobs(data_dir: Path, backup_file: Path) -> tuple[int, int]:
    """Copy every stored object beside ``backup_file``; returns (objects, bytes)."""
    from .blobstore import FOLDER
    dest_root = blobs_folder(backup_file)
    if dest_root.exists():
        raise ConfigError(f"{dest_root} already exists; choose a new backup file name")
    count = size = 0
    for digest, src in _objects(Path(data_dir) / FOLDER):
        _copy_file(src, dest_root / digest[:2] / digest)
        count += 1
        size += src.stat().st_size
    dest_root.mkdir(parents=True, exist_ok=True)  # present even when empty: this backup has its blobs
    return count, size


def restore_blobs(backup_file: Path, data_dir: Path) -> int | None:
    """Put the objects saved beside ``backup_file`` into central's store (an object already there with
    the same size is kept). Returns how many were copied, or None when the backup has no blobs folder."""
    from .blobstore import FOLDER, HASH
    src_root = blobs_folder(backup_file)
    if not src_root.is_dir():
        return None
    dest_root = Path(data_dir) / FOLDER
    copied = 0
    for digest, src in _objects(src_root):
        if not HASH.match(digest):
            continue
        dest = dest_root / digest[:2] / digest
        if dest.is_file() and dest.stat().st_size == src.stat().st_size:
            continue
        _copy_file(src, dest)
        copied += 1
    return copied
