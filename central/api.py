"""JSON API under /api/v1 for people and scripts (Bearer tokens: motcua-central token create USER).

Errors have one shape: {"error": {"code", "message", "fields"?}}.
"""
from __future__ import annotations

import json

from flask import Blueprint, current_app, g, jsonify, request

from domain import workflow

from . import handback, nodes, users
from .clock import iso
from .db import get_db
from service.sqlite import write_tx

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def error(code: str, message: str, status: int, fields: dict | None = None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def _authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return error("unauthorized", "Send 'Authorization: Bearer <token>' (motcua-central token create USER).", 401)
    g.user = users.user_for_token(get_db(), token.strip())
    if g.user is None:
        return error("unauthorized", "Unknown, revoked or disabled token.", 401)
    if request.method == "POST" and g.user.role != "admin":
        return error("forbidden", "Only an admin may do this.", 403)
    return None


@bp.before_request
def authenticate():
    g.user = None
    if request.endpoint and request.endpoint.startswith("api."):
        return _authenticate()


@bp.get("/nodes")
def list_nodes():
    settings = current_app.config["MOTCUA"]
    return jsonify({"nodes": nodes.listing(get_db(), g.now, settings["silent_after_hours"])})


@bp.get("/dossiers/<code>")
def dossier(code):
    conn = get_db()
    row = conn.execute("SELECT node, doc FROM dossiers WHERE code = ?", (code,)).fetchone()
    if row is None:
        return error("not_found", f"No dossier {code}.", 404)
    with write_tx(conn):
        conn.execute("INSERT INTO access_log(at, username, dossier, action) VALUES (?, ?, ?, 'api.view')",
                     (iso(g.now), g.user.username, code))
    return jsonify({"node": row["node"], "dossier": json.loads(row["doc"]),
                    "hand_back": handback.pending(conn, code)})


@bp.post("/dossiers/<code>/hand-back")
def hand_back(code):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error("bad_request", "Body must be a JSON object (Content-Type: application/json).", 400)
    params = {k: body.get(k) or "" for k in ("outcome", "result_note", "note", "receiver")}
    try:
        entry = handback.hand_back(get_db(), code, params, g.user.username, g.now)
    except handback.NotFound:
        return error("not_found", f"No dossier {code}.", 404)
    except handback.NotHeld as exc:
        return error("not_held", str(exc), 409)
    except workflow.WorkflowError as exc:
        return error("validation_failed", "Some fields are invalid; nothing was queued.", 422,
                     {e.field: e.message for e in exc.errors})
    return jsonify({"code": code, "feed_seq": entry["seq"], "entry": entry}), 201
