"""The node's own event log: append inside the caller's transaction, read back, verify."""
from __future__ import annotations

import sqlite3

from protocol.canonical import canonical_json, loads
from protocol.events import EMPTY_HEAD, GENESIS, Head, event_hash, make_event, verify_chain
from protocol.wire2 import derived_id


def head(conn: sqlite3.Connection) -> Head:
    row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return Head(row["seq"], row["hash"]) if row else EMPTY_HEAD


def append(conn: sqlite3.Connection, *, node: str, type: str, dossier: str | None, data: dict,
           actor: str, at: str) -> dict:
    """Append one event; the caller must hold a write transaction (BEGIN IMMEDIATE)."""
    if not conn.in_transaction:
        raise RuntimeError("events.append needs an open write transaction")
    current = head(conn)
    event = make_event(node=node, seq=current.seq + 1, prev=current.hash or GENESIS, at=at,
                       actor=actor, type=type, dossier=dossier, data=data,
                       id=derived_id(node, current.seq + 1))  # wire v2 need not send it
    body = canonical_json(event)
    conn.execute("INSERT INTO events(seq, id, type, dossier, at, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (event["seq"], event["id"], type, dossier, at, event_hash(event), body.decode("utf-8")))
    return event


def read(conn: sqlite3.Connection, after_seq: int = 0, limit: int | None = None) -> list[dict]:
    sql = "SELECT body FROM events WHERE seq > ? ORDER BY seq"
    args: tuple = (after_seq,)
    if limit is not None:
        sql += " LIMIT ?"
        args += (limit,)
    return [loads(r["body"]) for r in conn.execute(sql, args)]


def for_dossier(conn: sqlite3.Connection, code: str) -> list[dict]:
    return [loads(r["body"]) for r in conn.execute(
        "SELECT body FROM events WHERE dossier = ? ORDER BY seq", (code,))]


def verify_all(conn: sqlite3.Connection, batch: int = 5000) -> Head:
    """Walk the whole log and check every link and stored hash; raises ChainError."""
    current = EMPTY_HEAD
    while True:
        rows = conn.execute("SELECT body, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                            (current.seq, batch)).fetchall()
        if not rows:
            return current
        events = [loads(r["body"]) for r in rows]
        new = verify_chain(events, current)
        for event, row in zip(events, rows):
            if event_hash(event) != row["hash"]:
                from protocol.events import ChainError
                raise ChainError(f"stored hash of event {event['seq']} does not match its body")
        current = new
