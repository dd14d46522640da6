"""The node's outbox of document blobs for central (issue 11): what is queued, what central holds.

A row in ``blob_sync`` is written in the same transaction as the ``blobs`` row and the
``attachment.added`` event (node/documents.py), so no stored document is ever forgotten by the
outbox. Its state moves queued -> sending -> held; ``via`` says how central came to hold it
(``link`` upload, ``dedup`` because central already had it, ``usb`` bundle, ``restore``).

The object that travels (protocol/blobobject.py, MCT1) is the blob file's own ciphertext behind a
header that seals this blob's key to central's key. The header is made once and kept here, so an
upload resumed after a restart, or a USB copy, sends the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocol import blobobject

from .blobs import HEADER as FILE_HEADER
from .blobs import BlobStore

DATA_PART = FILE_HEADER - 12  # the node file's data nonce starts here; the object carries it onward


@dataclass(frozen=True)
class Backlog:
    files: int
    bytes: int
    oldest_at: str | None


def queue(conn, digest: str, now_iso: str) -> None:
    """Queue a blob for central (inside the caller's transaction); a blob already queued or held stays."""
    conn.execute("INSERT OR IGNORE INTO blob_sync(hash, state, queued_at) VALUES (?, 'queued', ?)", (digest, now_iso))


def header(conn, store: BlobStore, digest: str, central_public) -> bytes:
    """This blob's MCT1 header, sealed once and then kept."""
    row = conn.execute("SELECT header FROM blob_sync WHERE hash = ?", (digest,)).fetchone()
    if row is not None and row[0]:
        return bytes(row[0])
    made = blobobject.seal_header(store.blob_key(digest), digest, central_public)
    size = blobobject.HEADER + store.path(digest).stat().st_size - DATA_PART
    conn.execute("UPDATE blob_sync SET header = ?, size = ? WHERE hash = ? AND header IS NULL", (made, size, digest))
    row = conn.execute("SELECT header FROM blob_sync WHERE hash = ?", (digest,)).fetchone()
    return bytes(row[0]) if row is not None and row[0] else made


def object_size(conn, store: BlobStore, digest: str, central_public) -> int:
    header(conn, store, digest, central_public)
    return blobobject.HEADER + store.path(digest).stat().st_size - DATA_PART


def read_object(conn, store: BlobStore, digest: str, central_public, offset: int = 0,
                length: int | None = None) -> bytes:
    """Bytes ``offset``..``offset + length`` of the object central receives (to its end by default)."""
    head = header(conn, store, digest, central_public)
    size = object_size(conn, store, digest, central_public)
    end = size if length is None else min(size, offset + length)
    out = bytearray(head[offset:min(end, len(head))]) if offset < len(head) else bytearray()
    start = max(offset, len(head))
    if end > start:
        with open(store.path(digest), "rb") as f:
            f.seek(DATA_PART + start - len(head))
            out += f.read(end - start)
    return bytes(out)


def mark_held(conn, digest: str, via: str, now_iso: str) -> bool:
    """Central holds ``digest``: it never crosses the link again. False when it was already marked."""
    cur = conn.execute("UPDATE blob_sync SET state = 'held', held_at = ?, via = ?, acked = coalesce(size, acked) "
                       "WHERE hash = ? AND state != 'held'", (now_iso, via, digest))
    return cur.rowcount == 1


def set_acked(conn, digest: str, acked: int) -> None:
    conn.execute("UPDATE blob_sync SET acked = ?, state = 'sending' WHERE hash = ? AND state != 'held'",
                 (acked, digest))


def waiting(conn, limit: int | None = None) -> list[dict]:
    """Blobs central does not hold yet, oldest first: {"hash", "state", "acked", "size", "queued_at"}."""
    sql = ("SELECT s.hash, s.state, s.acked, coalesce(s.size, b.size), s.queued_at FROM blob_sync s "
           "JOIN blobs b ON b.hash = s.hash WHERE s.state != 'held' ORDER BY s.queued_at, s.hash")
    rows = conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
    return [{"hash": r[0], "state": r[1], "acked": r[2], "size": r[3], "queued_at": r[4]} for r in rows]


def backlog(conn) -> Backlog:
    """Files and bytes still to send, and when the oldest was queued (for the status bar and central)."""
    row = conn.execute("SELECT count(*), coalesce(sum(coalesce(s.size, b.size) - s.acked), 0), min(s.queued_at) "
                       "FROM blob_sync s JOIN blobs b ON b.hash = s.hash WHERE s.state != 'held'").fetchone()
    return Backlog(int(row[0]), int(row[1]), row[2])
