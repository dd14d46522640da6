"""Dossiers across communes: search (masked lists) and a dossier's page with its full, signed history.

Every page that shows a citizen's data writes who looked, when and at what to central's
``access_log``: a dossier's page one row, a search one row per dossier listed.
"""
from __future__ import annotations

import json

from flask import Blueprint, abort, g, render_template, request

from domain.statuses import Status

from .. import handback, search as finder
from ..clock import iso
from ..db import get_db
from service.sqlite import write_tx
from service.web_auth import login_required

bp = Blueprint("dossiers", __name__)
PAGE = 50


def log_access(conn, username: str, codes, action: str, now) -> None:
    codes = list(dict.fromkeys(codes))
    if not codes:
        return
    with write_tx(conn):
        conn.executemany("INSERT INTO access_log(at, username, dossier, action) VALUES (?, ?, ?, ?)",
                         [(iso(now), username, code, action) for code in codes])


def open_handoff_no(state: dict) -> int | None:
    """Index of the hand-up row central is holding the dossier for, or None."""
    rows = state.get("handoffs") or []
    if state.get("holder") == "central" and rows and rows[-1].get("returned_at") is None and rows[-1].get("upper"):
        return len(rows) - 1
    return None


def history(conn, code: str) -> list[dict]:
    """The dossier's events as central stored them: who signed each batch (node and the key valid
    when central received it), when central received it, and what changed."""
    rows = conn.execute("""
        SELECT e.node, e.seq, e.hash, e.body, e.received_at, b.id AS batch_id, b.source, b.node AS batch_node,
               (SELECT k.fingerprint FROM node_keys k
                 WHERE k.node = b.node AND k.created_at <= b.received_at
                   AND (k.revoked_at IS NULL OR k.revoked_at > b.received_at)
                 ORDER BY k.id DESC LIMIT 1) AS fingerprint
        FROM events e JOIN batches b ON b.id = e.batch_id
        WHERE json_extract(e.body, '$.dossier') = ?
        ORDER BY e.node, e.seq""", (code,)).fetchall()
    out = []
    for r in rows:
        event = json.loads(r["body"])
        data = event.get("data") or {}
        change = None
        if data.get("to") is not None:
            change = (data.get("from"), data.get("to"))
        elif isinstance(data.get("dossier"), dict):
            change = (None, data["dossier"].get("status"))
        out.append({"node": r["node"], "seq": r["seq"], "hash": r["hash"], "at": event.get("at"),
                    "actor": event.get("actor"), "type": event.get("type"), "change": change,
                    "note": data.get("note") or "", "received_at": r["received_at"], "batch_id": r["batch_id"],
                    "source": r["source"], "signed_by": r["batch_node"], "fingerprint": r["fingerprint"],
                    "feed_seq": data.get("feed_seq")})
    return out


def feed_entries(conn, code: str, applied: set[int]) -> list[dict]:
    """Central's own entries about the dossier (hand-back, hand-down) and whether the node applied them."""
    out = []
    for r in conn.execute("SELECT node, seq, type, body FROM feed WHERE dossier = ? ORDER BY node, seq", (code,)):
        entry = json.loads(r["body"])
        data = entry.get("data") or {}
        outcome = None
        if r["type"] == "dossier.handed_back":
            outcome = "resolve" if data.get("to") == int(Status.RESOLVED) else "return"
        out.append({"node": r["node"], "seq": r["seq"], "type": r["type"], "at": entry.get("at"),
                    "actor": entry.get("actor"), "outcome": outcome, "note": data.get("note") or "",
                    "applied": r["seq"] in applied})
    return out


@bp.get("/ho-so")
@login_required
def search():
    conn = get_db()
    q = (request.args.get("q") or "").strip()
    node = (request.args.get("node") or "").strip()
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    rows = finder.search(conn, q, node=node or None, limit=PAGE + 1, offset=(page - 1) * PAGE) if q else []
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    log_access(conn, g.user.username, [r["code"] for r in rows], "web.search", g.now)
    communes = [(r["id"], r["name"]) for r in conn.execute("SELECT id, name FROM nodes ORDER BY name, id")]
    names = dict(communes)
    return render_template("dossiers/search.html", q=q, node=node, rows=rows, page=page, more=more,
                           communes=communes, names=names)


@bp.get("/ho-so/<code>")
@login_required
def dossier(code):
    conn = get_db()
    row = conn.execute("SELECT d.node, d.doc, n.name AS node_name FROM dossiers d JOIN nodes n ON n.id = d.node "
                       "WHERE d.code = ?", (code,)).fetchone()
    if row is None:
        abort(404)
    state = json.loads(row["doc"])
    log_access(conn, g.user.username, [code], "web.view", g.now)
    events = history(conn, code)
    applied = {e["feed_seq"] for e in events if e["feed_seq"] is not None}
    number = open_handoff_no(state)
    pending_back = handback.pending(conn, code)
    waiting = number is not None and not (pending_back and pending_back["handoff_no"] == number)
    assignment = None
    if number is not None:
        assignment = conn.execute("SELECT * FROM assignments WHERE code = ? AND handoff_no = ?",
                                  (code, number)).fetchone()
    staff = [r for r in conn.execute("SELECT username, full_name FROM users WHERE active = 1 AND role = 'admin' "
                                     "ORDER BY username")]  # only admins can decide, so only they are assigned
    return render_template(
        "dossiers/dossier.html", d=state, node=row["node"], node_name=row["node_name"], events=events,
        feed=feed_entries(conn, code, applied), waiting=waiting,
        handed_back=pending_back if number is not None and not waiting else None,
        assignment=assignment, staff=staff, outcomes=DECISIONS,
        anomalies=conn.execute("SELECT seq, message, at FROM anomalies WHERE dossier = ? ORDER BY id",
                               (code,)).fetchall(),
        accesses=conn.execute("SELECT at, username, action FROM access_log WHERE dossier = ? "
                              "ORDER BY at DESC, id DESC LIMIT 20", (code,)).fetchall(),
        overdue_now=state["due_at"] and Status(state["status"]) in (Status.RECEIVED, Status.PROCESSING,
                                                                      Status.FEE_REQUESTED)
        and iso(g.now) > state["due_at"],
        online=conn.execute("SELECT * FROM online_dossiers WHERE code = ?", (code,)).fetchone())


# The admin's choices for a handed-up dossier; "supplement" travels as outcome "return" with a note.
DECISIONS = {
    "resolve": "Đã giải quyết xong (trả kết quả về xã)",
    "supplement": "Yêu cầu bổ sung hồ sơ (trả về xã để bổ sung)",
    "return": "Trả lại để xã tiếp tục xử lý",
}
