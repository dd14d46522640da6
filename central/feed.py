"""Central's feed to each node: a per-node hash chain of event-shaped entries (node "central").

Entry types: catalogue.published, calendar.published, dossier.handed_back, dossier.handed_down.
Reference data is published as versions that never go backwards; every active node's feed
gets each new version, and a node enrolling later gets the latest ones at enrolment.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from domain.calendar import load_default_calendar
from domain.catalogue import load_sample_catalogue
from protocol import sync as wire
from protocol.canonical import canonical_json, loads
from protocol.events import GENESIS, Head, make_event

from .clock import iso

KINDS = {"catalogue": "catalogue.published", "calendar": "calendar.published"}
SHIPPED_VERSION = 1  # the catalogue and calendar version every node gets from `motcua-node init`


class PublishError(ValueError):
    pass


def feed_head(conn, node: str) -> Head:
    row = conn.execute("SELECT seq, hash FROM feed WHERE node = ? ORDER BY seq DESC LIMIT 1", (node,)).fetchone()
    return Head(row["seq"], row["hash"]) if row else Head(0, GENESIS)


def append_feed(conn, node: str, type: str, dossier: str | None, data: dict, actor: str, at: datetime) -> dict:
    """Append one entry to ``node``'s feed; the caller holds a write transaction."""
    if not conn.in_transaction:
        raise RuntimeError("append_feed needs an open write transaction")
    head = feed_head(conn, node)
    entry = make_event(node=wire.FEED_NODE, seq=head.seq + 1, prev=head.hash, at=iso(at), actor=actor,
                       type=type, dossier=dossier, data=data)
    raw = canonical_json(entry)
    conn.execute("INSERT INTO feed(node, seq, id, hash, type, dossier, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (node, entry["seq"], entry["id"], hashlib.sha256(raw).hexdigest(), type, dossier,
                  raw.decode("utf-8")))
    return entry


def entry_hash(conn, node: str, seq: int) -> str | None:
    """The hash of entry ``seq`` of ``node``'s feed (GENESIS for 0), None when central has no such entry.

    Sent with every feed page as ``after_hash`` so a node checks by hash, not only by seq, that
    central's feed still continues what it applied (it does not after a restore from an old backup).
    """
    if seq == 0:
        return GENESIS
    row = conn.execute("SELECT hash FROM feed WHERE node = ? AND seq = ?", (node, seq)).fetchone()
    return row["hash"] if row else None


def read_feed(conn, node: str, after: int, limit: int) -> list[dict]:
    return [loads(r["body"]) for r in conn.execute(
        "SELECT body FROM feed WHERE node = ? AND seq > ? ORDER BY seq LIMIT ?", (node, after, limit))]


def latest(conn, kind: str) -> tuple[int, dict] | None:
    row = conn.execute("SELECT version, body FROM reference WHERE kind = ? ORDER BY version DESC LIMIT 1",
                       (kind,)).fetchone()
    return (row["version"], json.loads(row["body"])) if row else None


def _entry_data(kind: str, version: int, body: dict) -> dict:
    if kind == "catalogue":
        return {"version": version, "procedures": body["procedures"]}
    return {"version": version, "entries": body["entries"]}


def publish(conn, kind: str, version: int, body: dict, *, now: datetime, actor: str = "central") -> int:
    """Store a reference version and queue it in every active node's feed; returns nodes reached.

    ``body`` is {"procedures": [...]} for a catalogue, {"entries": [...]} for a calendar.
    The caller holds a write transaction.
    """
    if kind not in KINDS:
        raise PublishError(f"unknown reference kind {kind!r}")
    current = latest(conn, kind)
    if current is not None and version <= current[0]:
        raise PublishError(f"{kind} version {version} is not newer than published version {current[0]}")
    data = _entry_data(kind, version, body)
    conn.execute("INSERT INTO reference(kind, version, body, published_at) VALUES (?, ?, ?, ?)",
                 (kind, version, json.dumps(body, ensure_ascii=False), iso(now)))
    nodes = [r["id"] for r in conn.execute("SELECT id FROM nodes WHERE status = 'active' ORDER BY id")]
    for node in nodes:
        append_feed(conn, node, KINDS[kind], None, data, actor, now)
        conn.execute(f"UPDATE nodes SET {kind}_version = ? WHERE id = ?", (version, node))
    return len(nodes)


def catch_up_reference(conn, node: str, *, now: datetime, actor: str = "central") -> None:
    """Give a (newly enrolled or recovered) node's feed the latest versions it has not been sent.

    A latest version identical to what ``motcua-node init`` ships (the sample catalogue and the
    default calendar, version 1) is recorded as the node's, not queued: the node has it already.
    """
    row = conn.execute("SELECT catalogue_version, calendar_version FROM nodes WHERE id = ?", (node,)).fetchone()
    shipped = None
    for kind in KINDS:
        found = latest(conn, kind)
        if found and found[0] > row[f"{kind}_version"]:
            shipped = shipped or sample_reference()
            if (found[0], found[1]) == shipped[kind]:
                # the very version `motcua-node init` installs on every node: not sent again
                conn.execute(f"UPDATE nodes SET {kind}_version = ? WHERE id = ?", (found[0], node))
                continue
            append_feed(conn, node, KINDS[kind], None, _entry_data(kind, *found), actor, now)
            conn.execute(f"UPDATE nodes SET {kind}_version = ? WHERE id = ?", (found[0], node))


def sample_reference() -> dict:
    """The shipped sample catalogue and default calendar, as publishable bodies (version 1)."""
    cat_version, procedures = load_sample_catalogue()
    cal_version, entries = load_default_calendar()
    return {
        "catalogue": (cat_version, {"procedures": [p.to_dict() for p in procedures]}),
        "calendar": (cal_version, {"entries": [{"date": e.day.isoformat(), "kind": e.kind, "name": e.name}
                                               for e in entries]}),
    }


def publish_samples(conn, *, now: datetime) -> None:
    for kind, (version, body) in sample_reference().items():
        publish(conn, kind, version, body, now=now)
