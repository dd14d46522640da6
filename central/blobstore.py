"""Where central keeps document blobs: behind one interface, on the filesystem today.

Objects are the bytes a node sent (protocol/blobobject.py, MCT1: encrypted, the blob key sealed to
central's key), addressed by the SHA-256 of the plaintext. Only complete objects that verified are
ever put; an upload in progress lives in staging until its last chunk arrives and verifies.

``FileStorage`` layout under ``<central data>/blobs``:
    <h[:2]>/<h>            one stored object per hash (written to tmp/, fsynced, renamed, folder fsynced)
    staging/<upload id>    the bytes of one upload received so far (appended chunk by chunk, fsynced)
    tmp/                   half-written objects (a crash leaves them; ``clean_tmp`` removes them)

An S3-compatible object store is the intended second implementation of ``BlobStorage``: objects map
to keys ``<h[:2]>/<h>``, staging to a multipart upload (chunks become parts) or to local staging.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from appshell.files import fsync_dir

HASH = re.compile(r"^[0-9a-f]{64}$")
UPLOAD_ID = re.compile(r"^[0-9A-Za-z._-]{1,128}$")
FOLDER = "blobs"


class StorageError(Exception):
    """A storage operation that failed (disk, permissions, bad name); one English line."""


def check_hash(digest: str) -> str:
    if not isinstance(digest, str) or not HASH.match(digest):
        raise StorageError(f"not a SHA-256 hex digest: {str(digest)[:80]!r}")
    return digest


def check_upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or not UPLOAD_ID.match(upload_id) or upload_id in (".", ".."):
        raise StorageError(f"not an upload id: {str(upload_id)[:80]!r}")
    return upload_id


class BlobStorage(ABC):
    """Content-addressed objects plus resumable staging. Implementations must make ``put`` and
    ``finish`` atomic: a reader sees a whole verified object or none."""

    @abstractmethod
    def has(self, digest: str) -> bool: ...

    @abstractmethod
    def size(self, digest: str) -> int | None: ...

    @abstractmethod
    def read(self, digest: str) -> bytes: ...

    @abstractmethod
    def put(self, digest: str, data: bytes) -> None:
        """Store a complete object (already verified by the caller); idempotent."""

    @abstractmethod
    def delete(self, digest: str) -> None: ...

    @abstractmethod
    def digests(self) -> Iterator[str]: ...

    # --- resumable staging ---------------------------------------------------------------------
    @abstractmethod
    def staged_size(self, upload_id: str) -> int:
        """Bytes received so far for ``upload_id`` (0 when none)."""

    @abstractmethod
    def append(self, upload_id: str, offset: int, data: bytes) -> int:
        """Append ``data`` at ``offset``, which must equal the staged size (else StorageError);
        returns the new size. Durable when it returns."""

    @abstractmethod
    def staged(self, upload_id: str) -> bytes: ...

    @abstractmethod
    def finish(self, upload_id: str, digest: str) -> None:
        """Make the staged bytes the object ``digest`` (atomic) and drop the staging."""

    @abstractmethod
    def drop(self, upload_id: str) -> None: ...

    @abstractmethod
    def staging_ids(self) -> Iterator[str]: ...


class FileStorage(BlobStorage):
    def __init__(self, root: Path):
        self.root = Path(root)

    # --- paths ---------------------------------------------------------------------------------
    def path(self, digest: str) -> Path:
        check_hash(digest)
        return self.root / digest[:2] / digest

    def _staging(self, upload_id: str) -> Path:
        return self.root / "staging" / check_upload_id(upload_id)

    # --- objects -------------------------------------------------------------------------------
    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"blob {digest[:12]} is not stored") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {digest[:12]}: {exc.strerror or exc}") from None

    def _install(self, digest: str, write) -> None:
        final = self.path(digest)
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / f"{digest}.{os.getpid()}.{secrets.token_hex(4)}"
            try:
                write(tmp)
                os.replace(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(final.parent)
        except OSError as exc:
            raise StorageError(f"cannot store blob {digest[:12]}: {exc.strerror or exc}") from None

    def put(self, digest: str, data: bytes) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        self._install(digest, write)

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for prefix in sorted(self.root.iterdir()):
            if len(prefix.name) != 2 or not prefix.is_dir():
                continue
            for entry in sorted(prefix.iterdir()):
                if HASH.match(entry.name) and entry.name[:2] == prefix.name and entry.is_file():
                    yield entry.name

    # --- staging -------------------------------------------------------------------------------
    def staged_size(self, upload_id: str) -> int:
        try:
            return self._staging(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, upload_id: str, offset: int, data: bytes) -> int:
        path = self._staging(upload_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if offset != size:
                    raise StorageError(f"upload {upload_id}: chunk at {offset} but {size} bytes are staged")
                os.lseek(fd, size, os.SEEK_SET)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
                return size + len(data)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot stage upload {upload_id}: {exc.strerror or exc}") from None

    def staged(self, upload_id: str) -> bytes:
        try:
            return self._staging(upload_id).read_bytes()
        except FileNotFoundError:
            return b""

    def finish(self, upload_id: str, digest: str) -> None:
        staging = self._staging(upload_id)
        final = self.path(digest)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, final)  # same filesystem: atomic; the staged file is already fsynced
            fsync_dir(final.parent)
            fsync_dir(staging.parent)
        except OSError as exc:
            raise StorageError(f"cannot store blob {digest[:12]}: {exc.strerror or exc}") from None

    def drop(self, upload_id: str) -> None:
        self._staging(upload_id).unlink(missing_ok=True)

    def staging_ids(self) -> Iterator[str]:
        folder = self.root / "staging"
        if folder.is_dir():
            yield from sorted(p.name for p in folder.iterdir() if p.is_file())

    def clean_tmp(self, min_age: float = 3600) -> int:
        """Remove half-written objects older than ``min_age`` seconds; returns how many."""
        folder, removed = self.root / "tmp", 0
        if folder.is_dir():
            for p in folder.iterdir():
                if time.time() - p.stat().st_mtime >= min_age:
                    p.unlink(missing_ok=True)
                    removed += 1
        return removed


def storage_for(data_dir: Path, settings: dict | None = None) -> BlobStorage:
    """The storage central's settings name (today only the filesystem under the data folder)."""
    return FileStorage(Path(data_dir) / FOLDER)
