"""Dossiers across communes: search (masked lists) and a dossier's page with its full, signed history.

Every page that shows a citizen's data writes who looked, when and at what to central's
``access_log`` (``central.store.dossiers.log_access``): a dossier's page one row, a search one
row per dossier listed.
"""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from appshell.web_auth import login_required

from .. import handback
from ..clock import iso
from ..db import get_db, get_read_db
from ..store import accounts, blobs, dossiers, nodes, queue
from ..store import search as finder
from .filters import overdue

bp = Blueprint("dossiers", __name__)
PAGE = 50


def open_handoff_no(state: dict) -> int | None:
    """Index of the hand-up row central is holding the dossier for, or None."""
    rows = state.get("handoffs")
    if state.get("holder") != "central" or not isinstance(rows, list) or not rows or not isinstance(rows[-1], dict):
        return None
    if rows[-1].get("returned_at") is None and rows[-1].get("upper"):
        return len(rows) - 1
    return None


@bp.get("/ho-so")
@login_required
def search():
    conn = get_read_db()  # a streaming replica when read_database is set
    q = (request.args.get("q") or "").strip()
    node = (request.args.get("node") or "").strip()
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    rows = finder.search(conn, q, node=node or None, limit=PAGE + 1, offset=(page - 1) * PAGE) if q else []
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    dossiers.log_access(get_db(), g.user.username, [r["code"] for r in rows], "web.search", g.now)
    communes = nodes.names(conn)
    return render_template("dossiers/search.html", q=q, node=node, rows=rows, page=page, more=more,
                           communes=communes, names=dict(communes))


@bp.get("/ho-so/<code>")
@login_required
def dossier(code):
    conn = get_db()
    found = dossiers.get(conn, code)
    if found is None:
        abort(404)
    state = found["state"]
    dossiers.log_access(conn, g.user.username, [code], "web.view", g.now)
    events = dossiers.history(conn, code)
    applied = {e["feed_seq"] for e in events if e["feed_seq"] is not None}
    number = open_handoff_no(state)
    pending_back = handback.pending(conn, code)
    waiting = number is not None and not (pending_back and pending_back["handoff_no"] == number)
    return render_template(
        "dossiers/dossier.html", d=state, node=found["node"], node_name=found["node_name"], events=events,
        feed=dossiers.feed_entries(conn, code, applied), waiting=waiting,
        handed_back=pending_back if number is not None and not waiting else None,
        assignment=queue.assignment(conn, code, number) if number is not None else None,
        staff=accounts.admins(conn), outcomes=DECISIONS,
        anomalies=dossiers.anomalies(conn, code), accesses=dossiers.recent_accesses(conn, code),
        overdue_now=overdue(state.get("status"), state.get("due_at"), iso(g.now)),
        online=dossiers.online_registration(conn, code), held=blobs.documents_held(conn, state))


# The admin's choices for a handed-up dossier; "supplement" travels as outcome "return" with a note.
DECISIONS = {
    "resolve": "Đã giải quyết xong (trả kết quả về xã)",
    "supplement": "Yêu cầu bổ sung hồ sơ (trả về xã để bổ sung)",
    "return": "Trả lại để xã tiếp tục xử lý",
}
