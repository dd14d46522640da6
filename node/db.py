"""The node database: its connection per request (Flask g), migration at start-up after a copy
(appshell.sqlite.migrate), and the data folder's run lock."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import current_app, g

from appshell import sqlite
from appshell.settings import ConfigError
from migrations.node import migrations

from .clock import local_now

LOCK_NAME = "node.lock"


class NodeRunning(ConfigError):
    """Another process (``motcua-node run`` or a restore) holds the data folder."""


def migrate(path: Path, backup_dir: Path | None = None) -> list[str]:
    """Apply pending migrations after copying a database that has a schema (see appshell.sqlite.migrate)."""
    folder = Path(backup_dir) if backup_dir is not None else Path(path).parent / "backups"
    return sqlite.migrate(path, migrations, backup_dir=folder,
                          restore_hint="restore it with: motcua-node restore {copy}")


def get_db():
    if "db" not in g:
        g.db = sqlite.connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app) -> None:
    app.teardown_appcontext(close_db)


class FolderLock:
    """An exclusive, advisory lock on ``<data>/node.lock`` held while the node runs (or is restored).

    The operating system drops it when the process ends, even on a kill or a power cut, so a
    stale lock file never blocks a start. POSIX uses flock(2), Windows msvcrt.locking.
    """

    def __init__(self, data_dir: Path, purpose: str = "run"):
        self.path = Path(data_dir) / LOCK_NAME
        self.purpose = purpose
        self._file = None

    def acquire(self) -> FolderLock:
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115  stays open: it holds the lock until release()
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

    def __enter__(self) -> FolderLock:
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
