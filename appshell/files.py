"""Owner-only files and folders, whatever the umask: databases, settings holding secret_key,
keys, backups and logs are readable by the service account alone (0600 files, 0700 folders)."""
from __future__ import annotations

import os
import shutil
import stat
import sys
from contextlib import contextmanager
from pathlib import Path

PRIVATE_UMASK = 0o077


@contextmanager
def owner_only():
    """Create files inside this block as owner-only (umask 077), then put the umask back."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can enter; fix one that is open."""
    path = Path(path)
    with owner_only():
        path.mkdir(parents=True, exist_ok=True)
    make_private(path)
    return path


def make_private(path: Path) -> None:
    """0700 for a folder, 0600 for a file (a no-op on Windows, where ACLs apply instead)."""
    if sys.platform == "win32":  # pragma: no cover - Windows keeps the profile's ACLs
        return
    path = Path(path)
    mode = 0o700 if path.is_dir() else 0o600
    if stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)


def open_to_others(path: Path) -> bool:
    """True when group or others may read, write or enter ``path``."""
    return sys.platform != "win32" and bool(Path(path).stat().st_mode & 0o077)


@contextmanager
def new_data_folder(data_dir: Path, leftovers: tuple[str, ...]):
    """Set up a data folder owner-only and leave nothing half-made if the block fails.

    A folder this call created is removed again; in a folder that existed, only ``leftovers``
    (the files the set-up writes) are. On success ``backups/`` and ``logs/`` are added, owner-only.
    """
    data_dir = Path(data_dir)
    created = not data_dir.exists()
    private_dir(data_dir)  # an existing folder open to others is made owner-only (0700)
    try:
        yield data_dir
    except BaseException:
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for name in leftovers:
                (data_dir / name).unlink(missing_ok=True)
        raise
    private_dir(data_dir / "backups")
    private_dir(data_dir / "logs")


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (a no-op on Windows: no directory handles)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_durably(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temp file beside it: fsynced, renamed, folder fsynced,
    so ``dest`` is the whole file or absent whatever happens mid-copy."""
    dest = Path(dest)
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
    fsync_dir(dest.parent)
