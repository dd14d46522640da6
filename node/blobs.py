"""The node's document store: content-addressed, encrypted at rest, written atomically.

Layout
    <data>/blobs.key            the node data key (64 hex digits), owner-only (0600); never in the
                                database, never in a backup. Created on first use.
    <data>/blobs/<h[:2]>/<h>    one file per blob; ``h`` is the SHA-256 (hex) of the *stored plaintext*
                                (the normalised JPEG/PDF), so the same page stored twice is one file.
    <data>/blobs/tmp/           half-written files (a crash leaves them; ``clean`` removes them)

File format (version 1), 84 bytes of header, then the ciphertext:
    b"MCB1" | key id (8) | wrap nonce (12) | wrapped blob key (32 + 16 tag) | data nonce (12) |
    AES-256-GCM(blob key, data nonce, plaintext, aad = b"motcua-blob:" + h) (len + 16 tag)
Every blob has its own random 256-bit key, wrapped (AES-GCM, aad = h) under the node data key. So the
file that crosses the link later (issue 11) can be sent byte for byte in resumable chunks of a file that
never changes, and central can be given that one blob's key sealed to its own key, never the node's.
The key id (SHA-256 of the data key, first 8 bytes) tells a wrong key from a damaged file.

Durability order (the rule that keeps a crash from leaving an event without its blob):
    normalise -> ``put`` (temp file, fsync, rename, fsync folder) -> one DB transaction that inserts
    the ``blobs`` row and the ``attachment.added`` event. A crash before the commit leaves at worst a
    file without a row: ``orphans``/``clean`` (``motcua-node blobs clean``) removes such files once they
    are older than ``min_age`` (a file younger than that may belong to an upload still committing).

Backups (node/backup.py) copy the encrypted files as they are into ``<backup folder>/blobs/``; the key
is only ever written where a technician asks (``motcua-node blobs export-key --to FILE``, e.g. a second
USB stick kept apart) and put back with ``motcua-node restore --blob-key FILE`` into a fresh folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appshell.files import copy_durably, fsync_dir

KEY_NAME = "blobs.key"
FOLDER = "blobs"
MAGIC = b"MCB1"
HEADER = 4 + 8 + 12 + 48 + 12


class BlobError(Exception):
    """A blob that cannot be stored or read back; one English line."""


class KeyMissing(BlobError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"motcua-blob-key:" + key).digest()[:8]


def read_key_file(path: Path) -> bytes:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise KeyMissing(f"cannot read the blob key {path}: {exc}") from None
    if len(key) != 32:
        raise KeyMissing(f"{path} is not a blob key (expected 64 hex digits)")
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` to a new owner-only file (never overwrites)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if the file exists: a key is never replaced
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


class BlobStore:
    def __init__(self, data_dir: Path, *, create_key: bool = True):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / FOLDER
        self.key_path = self.data_dir / KEY_NAME
        self.create_key = create_key
        self._key: bytes | None = None

    # --- the key ---------------------------------------------------------------------------
    def key(self) -> bytes:
        if self._key is None:
            if not self.key_path.exists():
                if not self.create_key:
                    raise KeyMissing(f"no blob key at {self.key_path}")
                with contextlib.suppress(FileExistsError):  # another thread or process made it first
                    write_key_file(self.key_path, secrets.token_bytes(32))
            self._key = read_key_file(self.key_path)
        return self._key

    # --- paths -----------------------------------------------------------------------------
    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    # --- encryption ------------------------------------------------------------------------
    def seal(self, data: bytes, digest: str) -> bytes:
        key = self.key()
        blob_key = AESGCM.generate_key(256)
        wrap_nonce, data_nonce = secrets.token_bytes(12), secrets.token_bytes(12)
        aad = b"motcua-blob:" + digest.encode("ascii")
        wrapped = AESGCM(key).encrypt(wrap_nonce, blob_key, aad)
        return MAGIC + key_id(key) + wrap_nonce + wrapped + data_nonce + AESGCM(blob_key).encrypt(data_nonce, data, aad)

    def open_sealed(self, raw: bytes, digest: str) -> bytes:
        if len(raw) < HEADER + 16 or raw[:4] != MAGIC:
            raise BlobError(f"blob {digest[:12]} is not a motcua blob file (damaged?)")
        key = self.key()
        if raw[4:12] != key_id(key):
            raise BlobError(f"blob {digest[:12]} was sealed under another data key")
        aad = b"motcua-blob:" + digest.encode("ascii")
        try:
            blob_key = AESGCM(key).decrypt(raw[12:24], raw[24:72], aad)
            data = AESGCM(blob_key).decrypt(raw[72:84], raw[84:], aad)
        except InvalidTag:
            raise BlobError(f"blob {digest[:12]} fails its authentication tag (damaged)") from None
        if sha256_hex(data) != digest:
            raise BlobError(f"blob {digest[:12]} does not match its hash")
        return data

    def blob_key(self, digest: str) -> bytes:
        """This one blob's own key (unwrapped), to be sealed to central's key when the file travels (issue 11):
        central can then read this blob, and no other, from the very bytes on the node's disk."""
        raw = self.path(digest).read_bytes()[:HEADER]
        if len(raw) < HEADER or raw[:4] != MAGIC or raw[4:12] != key_id(self.key()):
            raise BlobError(f"blob {digest[:12]} is not readable with this node's key")
        try:
            return AESGCM(self.key()).decrypt(raw[12:24], raw[24:72], b"motcua-blob:" + digest.encode("ascii"))
        except InvalidTag:
            raise BlobError(f"blob {digest[:12]} fails its authentication tag (damaged)") from None

    # --- store and read --------------------------------------------------------------------
    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its hash; a blob already stored is kept (its mtime refreshed)."""
        digest = sha256_hex(data)
        final = self.path(digest)
        if final.is_file():
            try:
                self.open_sealed(final.read_bytes(), digest)
                os.utime(final)  # protects it from a concurrent clean-up until our row commits
                return digest
            except BlobError:
                pass  # damaged copy: write it again
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{digest}.{os.getpid()}.{secrets.token_hex(4)}"
        sealed = self.seal(data, digest)
        try:
            with open(tmp, "wb") as f:
                f.write(sealed)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise BlobError(f"cannot store blob {digest[:12]}: {exc.strerror or exc}") from None
        fsync_dir(final.parent)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            raw = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobError(f"blob {digest[:12]} is missing from {self.root}") from None
        return self.open_sealed(raw, digest)

    def verify(self, digest: str) -> str | None:
        """None when the blob is present and its plaintext matches its hash, else the problem."""
        try:
            self.get(digest)
        except BlobError as exc:
            return str(exc)
        return None

    def hashes_on_disk(self):
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for f in sorted(sub.iterdir()):
                    if f.is_file() and len(f.name) == 64:
                        yield f.name

    # --- clean-up --------------------------------------------------------------------------
    def orphans(self, known: set[str], min_age: float = 3600) -> list[Path]:
        """Files with no ``blobs`` row (and temp files) older than ``min_age`` seconds."""
        cutoff = time.time() - min_age
        found = []
        for digest in self.hashes_on_disk():
            path = self.path(digest)
            if digest not in known and path.stat().st_mtime <= cutoff:
                found.append(path)
        tmp_dir = self.root / "tmp"
        if tmp_dir.is_dir():
            found += [p for p in tmp_dir.iterdir() if p.stat().st_mtime <= cutoff]
        return found

    def clean(self, known: set[str], min_age: float = 3600) -> list[Path]:
        removed = []
        for path in self.orphans(known, min_age):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed


def known_hashes(conn) -> set[str]:
    """Every hash the database names (blob rows and their thumbnails)."""
    known = set()
    for row in conn.execute("SELECT hash, thumb FROM blobs"):
        known.add(row[0])
        if row[1]:
            known.add(row[1])
    return known


def copy_encrypted(src_root: Path, dest_root: Path, digests) -> int:
    """Copy sealed blob files as they are (no key needed) from one blobs folder to another, atomically.

    Files already present at the destination with the same size are skipped. Returns files copied.
    """
    copied = 0
    for digest in digests:
        src = Path(src_root) / digest[:2] / digest
        dest = Path(dest_root) / digest[:2] / digest
        if not src.is_file():
            raise BlobError(f"blob {digest[:12]} is missing from {src_root}")
        if dest.is_file() and dest.stat().st_size == src.stat().st_size:
            continue
        copy_durably(src, dest)
        copied += 1
    return copied
