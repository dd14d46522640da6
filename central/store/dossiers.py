"""Dossiers as central holds them: one dossier with its node, its signed history, central's own feed
entries about it, its anomalies and online registration, and the access log.

Every page or API answer that shows a citizen's data writes who looked, when and at what
(``log_access``): a dossier's page one row, a search one row per dossier listed. Searching
itself lives in ``central.store.search``.
"""
from __future__ import annotations

from datetime import datetime

from appshell.sqlite import write_tx
from domain.statuses import Status

from ..clock import iso
from . import dialect


def get(conn, code: str) -> dict | None:
    """{"node", "node_name", "state"} for a dossier (``state``: its materialised document), or None."""
    row = conn.execute("SELECT d.node, d.doc, n.name AS node_name FROM dossiers d JOIN nodes n ON n.id = d.node "
                       "WHERE d.code = ?", (code,)).fetchone()
    if row is None:
        return None
    return {"node": row["node"], "node_name": row["node_name"], "state": dialect.from_json(row["doc"])}


def log_access(conn, username: str, codes, action: str, now: datetime) -> None:
    """One access-log row per dossier (duplicates dropped), in one transaction."""
    codes = list(dict.fromkeys(codes))
    if not codes:
        return
    with write_tx(conn):
        conn.executemany("INSERT INTO access_log(at, username, dossier, action) VALUES (?, ?, ?, ?)",
                         [(iso(now), username, code, action) for code in codes])


def recent_accesses(conn, code: str, limit: int = 20) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT at, username, action FROM access_log WHERE dossier = ? "
                                          "ORDER BY at DESC, id DESC LIMIT ?", (code, limit))]


def anomalies(conn, code: str) -> list[dict]:
    """What central refused to materialise for this dossier, oldest first."""
    return [dict(r) for r in conn.execute("SELECT seq, message, at FROM anomalies WHERE dossier = ? ORDER BY id",
                                          (code,))]


def online_registration(conn, code: str) -> dict | None:
    """The dossier's registration at central when it was registered online and handed down."""
    row = conn.execute("SELECT * FROM online_dossiers WHERE code = ?", (code,)).fetchone()
    return dict(row) if row else None


def history_sql(d: dialect.Dialect) -> str:
    return f"""
    SELECT e.node, e.seq, e.hash, e.body, e.received_at, b.id AS batch_id, b.source, b.node AS batch_node,
           (SELECT k.fingerprint FROM node_keys k
             WHERE k.node = b.node AND k.created_at <= b.received_at
               AND (k.revoked_at IS NULL OR k.revoked_at > b.received_at)
             ORDER BY k.id DESC LIMIT 1) AS fingerprint
    FROM events e JOIN batches b ON b.id = e.batch_id
    WHERE {d.json_value('e.body', 'dossier')} = ?
    ORDER BY e.node, e.seq"""


HISTORY_SQL = history_sql(dialect.SQLITE)


def history(conn, code: str) -> list[dict]:
    """The dossier's events as central stored them: who signed each batch (node and the key valid
    when central received it), when central received it, and what changed."""
    out = []
    for r in conn.execute(history_sql(dialect.of(conn)), (code,)).fetchall():
        event = dialect.from_json(r["body"])
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        change = None
        if data.get("to") is not None:
            change = (data.get("from"), data.get("to"))
        elif isinstance(data.get("dossier"), dict):
            change = (None, data["dossier"].get("status"))
        out.append({"node": r["node"], "seq": r["seq"], "hash": r["hash"], "at": event.get("at"),
                    "actor": event.get("actor"), "type": event.get("type"), "change": change,
                    "note": data.get("note") or "", "received_at": r["received_at"], "batch_id": r["batch_id"],
                    "source": r["source"], "signed_by": r["batch_node"], "fingerprint": r["fingerprint"],
                    "feed_seq": data.get("feed_seq") if isinstance(data.get("feed_seq"), int) else None})
    return out


def feed_entries(conn, code: str, applied: set[int]) -> list[dict]:
    """Central's own entries about the dossier (hand-back, hand-down) and whether the node applied them."""
    out = []
    for r in conn.execute("SELECT node, seq, type, body FROM feed WHERE dossier = ? ORDER BY node, seq", (code,)):
        entry = dialect.from_json(r["body"])
        data = entry.get("data") or {}
        outcome = None
        if r["type"] == "dossier.handed_back":
            outcome = "resolve" if data.get("to") == int(Status.RESOLVED) else "return"
        out.append({"node": r["node"], "seq": r["seq"], "type": r["type"], "at": entry.get("at"),
                    "actor": entry.get("actor"), "outcome": outcome, "note": data.get("note") or "",
                    "applied": r["seq"] in applied})
    return out
