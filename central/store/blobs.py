"""Document blobs at central: which objects it holds, uploads in progress, each node's backlog.

The bytes live in ``central.blobstore`` (content-addressed storage); these rows say what is there,
who delivered it and how, and what a node reports it still has to send. ``central.blob_intake``
is the one path by which an object becomes held (link, USB bundle or restore).
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from appshell.sqlite import write_tx

from ..clock import iso


def held(conn, digests) -> set[str]:
    """Which of ``digests`` central holds (bytes verified and stored)."""
    wanted = sorted({d for d in digests if isinstance(d, str)})
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        marks = ",".join("?" * len(part))
        found.update(r[0] for r in conn.execute(f"SELECT hash FROM blobs WHERE hash IN ({marks})", part))
    return found


def record_stored(conn, *, digest: str, size: int, node: str, source: str, now: datetime) -> bool:
    """Note a verified object as held; False when it already was (the first delivery is kept)."""
    with write_tx(conn):
        cur = conn.execute("INSERT OR IGNORE INTO blobs(hash, size, node, source, stored_at) VALUES (?, ?, ?, ?, ?)",
                           (digest, size, node, source, iso(now)))
        conn.execute("DELETE FROM blob_uploads WHERE hash = ?", (digest,))
    return cur.rowcount == 1


def forget(conn, digest: str) -> None:
    """An object found damaged by ``blobs check``: no longer held, so nodes send it again."""
    with write_tx(conn):
        conn.execute("DELETE FROM blobs WHERE hash = ?", (digest,))


def all_held(conn) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute("SELECT hash, size FROM blobs")}


def upload_id(node: str, digest: str) -> str:
    """A path-safe id for one node's upload of one blob."""
    return hashlib.sha256(f"{node}\n{digest}".encode()).hexdigest()[:40]


def upload(conn, node: str, digest: str) -> dict | None:
    row = conn.execute("SELECT upload_id, size, received, started_at, updated_at FROM blob_uploads "
                       "WHERE node = ? AND hash = ?", (node, digest)).fetchone()
    if row is None:
        return None
    return {"upload_id": row[0], "size": row[1], "received": row[2], "started_at": row[3], "updated_at": row[4]}


def start_upload(conn, node: str, digest: str, size: int, now: datetime) -> dict:
    """The upload of ``digest`` by ``node``, begun if new; a different declared size starts it over."""
    uid = upload_id(node, digest)
    with write_tx(conn):
        row = conn.execute("SELECT size FROM blob_uploads WHERE upload_id = ?", (uid,)).fetchone()
        if row is None or row[0] != size:
            conn.execute("DELETE FROM blob_uploads WHERE upload_id = ?", (uid,))
            conn.execute("INSERT INTO blob_uploads(upload_id, node, hash, size, received, started_at, updated_at) "
                         "VALUES (?, ?, ?, ?, 0, ?, ?)", (uid, node, digest, size, iso(now), iso(now)))
    return upload(conn, node, digest)


def advance_upload(conn, upload_id_: str, offset: int, received: int, now: datetime) -> bool:
    """Move an upload from ``offset`` to ``received`` bytes; False when another request moved it first."""
    with write_tx(conn):
        cur = conn.execute("UPDATE blob_uploads SET received = ?, updated_at = ? WHERE upload_id = ? AND received = ?",
                           (received, iso(now), upload_id_, offset))
    return cur.rowcount == 1


def drop_upload(conn, upload_id_: str) -> None:
    with write_tx(conn):
        conn.execute("DELETE FROM blob_uploads WHERE upload_id = ?", (upload_id_,))


def uploads(conn) -> list[dict]:
    return [{"upload_id": r[0], "node": r[1], "hash": r[2], "size": r[3], "received": r[4], "updated_at": r[5]}
            for r in conn.execute("SELECT upload_id, node, hash, size, received, updated_at FROM blob_uploads "
                                  "ORDER BY updated_at")]


def report_backlog(conn, node: str, files: int, size: int, oldest_at: str | None, now: datetime) -> None:
    """What ``node`` says it still has to send (files, bytes, when the oldest was queued)."""
    with write_tx(conn):
        conn.execute("DELETE FROM blob_backlog WHERE node = ?", (node,))
        conn.execute("INSERT INTO blob_backlog(node, files, bytes, oldest_at, reported_at) VALUES (?, ?, ?, ?, ?)",
                     (node, int(files), int(size), oldest_at, iso(now)))


def backlog(conn, node: str | None = None) -> dict[str, dict]:
    """node -> {"files", "bytes", "oldest_at", "reported_at"} as each node last reported it."""
    sql = "SELECT node, files, bytes, oldest_at, reported_at FROM blob_backlog"
    rows = conn.execute(sql + " WHERE node = ?", (node,)) if node else conn.execute(sql)
    return {r[0]: {"files": r[1], "bytes": r[2], "oldest_at": r[3], "reported_at": r[4]} for r in rows}


# --- custody: which documents a dossier names, which hashes a node may deliver or fetch (blobcustody) ---

def attachment_hashes(state: dict) -> list[str]:
    """The hashes a dossier's documents name (removed ones too: they were named by an event)."""
    rows = state.get("attachments") if isinstance(state, dict) else None
    if not isinstance(rows, list):  # central reads what nodes sent: a row of another shape names nothing
        return []
    return [a["hash"] for a in rows if isinstance(a, dict) and isinstance(a.get("hash"), str)]


def documents_held(conn, state: dict) -> dict[str, bool]:
    """hash -> whether central holds its bytes, for every document the dossier names."""
    hashes = attachment_hashes(state)
    found = held(conn, hashes)
    return {h: h in found for h in hashes}


def named_by_node(conn, node: str, digests) -> set[str]:
    """Which of ``digests`` an event of one of ``node``'s dossiers names (its materialised documents).

    Central takes (USB) or serves (restore) a blob only for the node whose dossiers name it. For a few
    hashes the LIKE is a coarse filter over the dossier text (a hash is 64 hex digits, so it never
    matches by accident) and the decoded attachments decide; for many, one pass over the node's
    dossiers that have documents.
    """
    from . import dialect
    wanted = {d for d in digests if isinstance(d, str) and len(d) == 64 and all(c in "0123456789abcdef" for c in d)}
    if len(wanted) > 20:
        named: set[str] = set()
        for row in conn.execute("SELECT doc FROM dossiers WHERE node = ? AND doc LIKE '%\"attachments\"%'", (node,)):
            named.update(attachment_hashes(dialect.from_json(row[0])))
        return wanted & named
    found: set[str] = set()
    for digest in sorted(wanted):
        for row in conn.execute("SELECT doc FROM dossiers WHERE node = ? AND doc LIKE ?", (node, f"%{digest}%")):
            if digest in attachment_hashes(dialect.from_json(row[0])):
                found.add(digest)
                break
    return found


def held_rows(conn) -> list[dict]:
    """Every held object's row, oldest first (for ``motcua-central blobs check``)."""
    return [{"hash": r[0], "size": r[1], "node": r[2], "source": r[3], "stored_at": r[4]}
            for r in conn.execute("SELECT hash, size, node, source, stored_at FROM blobs ORDER BY stored_at, hash")]


def named_hashes(conn) -> set[str]:
    """Every hash any dossier at central names (to tell an object no dossier names from one that is)."""
    from . import dialect
    found: set[str] = set()
    for row in conn.execute("SELECT doc FROM dossiers WHERE doc LIKE '%\"attachments\"%'"):
        found.update(attachment_hashes(dialect.from_json(row[0])))
    return found


def referenced_by(conn, node: str, digest: str) -> bool:
    """Does a dossier of ``node`` name ``digest`` among its attachments (central's materialised rows)?
    A node uploads only blobs its own dossiers reference (central/views/blobs.py)."""
    return digest in named_by_node(conn, node, [digest])
