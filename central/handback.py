"""Central's decision on a dossier a node handed up: an entry in that node's feed.

Central does not change its own dossier row here: the node applies the entry, appends
its own event and pushes it, and central's row follows from that event. The node's
chain stays the single source of truth for its dossiers.
"""
from __future__ import annotations

import json
from datetime import datetime

from appshell.sqlite import write_tx
from domain import workflow

from . import feed
from .clock import iso


class NotFound(LookupError):
    pass


class NotHeld(ValueError):
    """Central does not hold the dossier, or a hand-back is already on its way to the node."""


def _open_handoff_no(state: dict) -> int | None:
    rows = state.get("handoffs") or []
    if rows and rows[-1].get("returned_at") is None and rows[-1].get("upper"):
        return len(rows) - 1
    return None


def hand_back(conn, code: str, params: dict, actor: str, now: datetime) -> dict:
    """Queue the hand-back; returns the feed entry. Raises NotFound, NotHeld or WorkflowError."""
    with write_tx(conn):
        row = conn.execute("SELECT node, doc FROM dossiers WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise NotFound(code)
        state = json.loads(row["doc"])
        number = _open_handoff_no(state)
        if state.get("holder") != "central" or number is None:
            raise NotHeld(f"central does not hold dossier {code}")
        if conn.execute("SELECT 1 FROM handbacks WHERE code = ? AND handoff_no = ?", (code, number)).fetchone():
            raise NotHeld(f"dossier {code} has already been handed back; waiting for node {row['node']} to apply it")
        change = workflow.hand_back_from_upper(state, params, now)
        entry = feed.append_feed(conn, row["node"], "dossier.handed_back", code, {"code": code, **change.data},
                                 actor, now)
        conn.execute("INSERT INTO handbacks(code, node, handoff_no, feed_seq, outcome, at, actor) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (code, row["node"], number, entry["seq"], params.get("outcome"), iso(now), actor))
    return entry


def pending(conn, code: str) -> dict | None:
    row = conn.execute("SELECT * FROM handbacks WHERE code = ? ORDER BY id DESC LIMIT 1", (code,)).fetchone()
    return dict(row) if row else None
