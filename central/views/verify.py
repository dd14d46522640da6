"""Public /xac-thuc at central: is a paper's QR genuine, superseded or forged? (issue 12.2)

The same code path as the node's page and ``motcua-node verify-qr`` (protocol/paper_qr.py), with
every key each commune ever registered (a paper outlives a key rotation) and central's copy of the
dossier for its current revision. No login, nothing written: the answer comes from the QR's text.
"""
from __future__ import annotations

import json

from flask import Blueprint, render_template, request

from protocol import paper_qr

from ..db import get_db

bp = Blueprint("verify", __name__)


def central_verifier(conn):
    """(public_keys_for, current_revision_for) for protocol.paper_qr.verify at central."""
    def keys_for(issuer):
        rows = conn.execute("SELECT public_key FROM node_keys WHERE node = ? ORDER BY id DESC", (issuer,))
        return paper_qr.load_public_keys(r["public_key"] for r in rows)

    def revision_for(code):
        row = conn.execute("SELECT doc FROM dossiers WHERE code = ?", (code,)).fetchone()
        if row is None:
            return None
        try:
            return len(json.loads(row["doc"]).get("corrections") or [])
        except (ValueError, AttributeError):
            return None
    return keys_for, revision_for


@bp.route("/xac-thuc")
def index():
    text = (request.args.get("ma") or "").strip()[:paper_qr.MAX_TEXT]
    if not text:
        return render_template("verify/index.html", text="", verdict=None)
    conn = get_db()
    verdict = paper_qr.verify(text, *central_verifier(conn))
    issuer_name = ""
    if verdict.qr is not None:
        row = conn.execute("SELECT name FROM nodes WHERE id = ?", (verdict.qr.issuer,)).fetchone()
        issuer_name = row["name"] if row else ""
    status = 200 if verdict.outcome in (paper_qr.GENUINE, paper_qr.SUPERSEDED) else 422
    return render_template("verify/index.html", text=text, verdict=verdict, issuer_name=issuer_name,
                           headline=paper_qr.HEADLINES[verdict.outcome],
                           explanation=paper_qr.EXPLANATIONS[verdict.outcome]), status
