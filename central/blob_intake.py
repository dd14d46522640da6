"""The one way an object becomes a blob central holds: verify, store atomically, record.

Used by the link (the last chunk of an upload), by USB bundles and by restores. What a node sends
is untrusted however well signed: the object must open with central's key and its plaintext must
hash to the address it claims, or nothing is stored.
"""
from __future__ import annotations

from datetime import datetime

from protocol import blobobject

from .blobstore import BlobStorage, StorageError, check_hash
from .store import blobs


class BlobRefused(ValueError):
    """An object that is not stored; ``code`` is machine-readable, the message English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def accept_object(conn, storage: BlobStorage, central_key, *, digest: str, raw: bytes, node: str, source: str,
                  now: datetime) -> bool:
    """Verify and store one complete object; True when it is new to central, False when already held."""
    try:
        check_hash(digest)
    except StorageError as exc:
        raise BlobRefused("bad_hash", str(exc)) from None
    if blobs.held(conn, [digest]) and storage.has(digest):
        return False
    try:
        blobobject.verify(raw, digest, central_key)
    except blobobject.BlobObjectError as exc:
        raise BlobRefused("bad_blob", str(exc)) from None
    storage.put(digest, raw)
    return blobs.record_stored(conn, digest=digest, size=len(raw), node=node, source=source, now=now)


def finish_staged(conn, storage: BlobStorage, central_key, *, upload_id: str, digest: str, node: str,
                  now: datetime) -> bool:
    """The last chunk arrived: verify the staged bytes, then make them the object (or drop them)."""
    raw = storage.staged(upload_id)
    try:
        blobobject.verify(raw, digest, central_key)
    except blobobject.BlobObjectError as exc:
        storage.drop(upload_id)
        blobs.drop_upload(conn, upload_id)
        raise BlobRefused("bad_blob", str(exc)) from None
    storage.finish(upload_id, digest)
    return blobs.record_stored(conn, digest=digest, size=len(raw), node=node, source="link", now=now)
