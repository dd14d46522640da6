"""The node's sync bookkeeping, kept in the ``sync_state`` key/value table.

acked_seq/acked_hash  central's head for this node, as last acknowledged (signed)
feed_seq/feed_hash    the last entry of central's feed this node has applied
feed_diverged(_at)    set when central's feed no longer continues that entry (by seq or hash);
                      cleared by ``motcua-node resync-feed``
clock_offset_seconds  central's clock minus this PC's, from the last signed reply
central_wire          the wire format central last said it prefers (2), or 1 (said nothing / refused v2)
last_push_wire        the wire format the last batch of events went in
central_resume        1: central keeps the part of a cut push that reached it (the node then sends only
                      the rest: protocol/sync.py RESUME); 0: it keeps none
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appshell.sqlite import write_tx
from protocol.events import GENESIS

INT_KEYS = {"acked_seq", "feed_seq", "batch_size", "clock_offset_seconds", "pending", "central_wire", "central_resume"}


def get_all(conn: sqlite3.Connection) -> dict:
    values = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM sync_state")}
    for key in INT_KEYS & set(values):
        values[key] = int(values[key]) if values[key] is not None else None
    return values


def get(conn, key: str, default=None):
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    if row is None or row["value"] is None:
        return default
    return int(row["value"]) if key in INT_KEYS else row["value"]


def put(conn, **values) -> None:
    """Write keys; joins the caller's transaction if one is open, else commits its own."""
    def write():
        conn.executemany(
            "INSERT INTO sync_state(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, None if v is None else str(v)) for k, v in values.items()])
    if conn.in_transaction:
        write()
    else:
        with write_tx(conn):
            write()


@dataclass(frozen=True)
class Status:
    enrolled: bool
    central_url: str | None
    local_seq: int
    acked_seq: int
    pending: int
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    clock_offset_seconds: int | None
    central_fingerprint: str | None
    node_fingerprint: str | None
    catalogue_version: int
    calendar_version: int
    feed_diverged: str | None = None


def status(conn) -> Status:
    values = get_all(conn)
    local = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    acked = values.get("acked_seq") or 0
    versions = {r["kind"]: r["version"] for r in conn.execute("SELECT kind, version FROM reference_versions")}
    return Status(
        enrolled=bool(values.get("central_public_key")), central_url=values.get("central_url"),
        local_seq=local, acked_seq=acked, pending=max(local - acked, 0),
        last_success_at=values.get("last_success_at"), last_error=values.get("last_error"),
        last_error_at=values.get("last_error_at"), clock_offset_seconds=values.get("clock_offset_seconds"),
        central_fingerprint=values.get("central_fingerprint"), node_fingerprint=values.get("node_fingerprint"),
        catalogue_version=versions.get("catalogue", 0), calendar_version=versions.get("calendar", 0),
        feed_diverged=values.get("feed_diverged"))


def acked_head(conn) -> tuple[int, str]:
    return get(conn, "acked_seq", 0), get(conn, "acked_hash", GENESIS)


def feed_head(conn) -> tuple[int, str]:
    return get(conn, "feed_seq", 0), get(conn, "feed_hash", GENESIS)
