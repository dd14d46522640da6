"""Central's JSON API under /api/v1, for people and scripts: one blueprint, Bearer tokens
(``motcua-central token create USER``); any role may read, only an admin may POST.

GET  /api/v1/central                  public: central's name, key fingerprint and time
GET  /api/v1/nodes                    the node registry with sync health
GET  /api/v1/overview?from=&to=&field=&node=
GET  /api/v1/dossiers?q=&node=&limit=&offset=   (ID numbers masked; every listed dossier is logged)
GET  /api/v1/dossiers/<code>          one dossier (logged), the hand-back on its way, if any, and its
                                      documents: each with its hash and whether central holds its bytes
POST /api/v1/dossiers/<code>/hand-back  admin: central's decision on a handed-up dossier
POST /api/v1/online-dossiers          admin: register an online dossier for a commune (hand-down)
GET  /api/v1/online-dossiers?node=
(GET /api/v1/reports/ii06a lives with the report pages, central/views/reports.py.)

Errors have one shape: {"error": {"code", "message", "fields"?}} (``error``).
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from appshell import accounts
from domain import workflow

from .. import handback, keys, online
from ..db import get_db, get_read_db
from ..store import blobs, dossiers, nodes
from ..store import search as finder
from .overview import overview, overview_json, read_filters

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC = {"api.central"}


def error(code: str, message: str, status: int, fields: dict | None = None):
    """The one JSON error body of every /api/ answer."""
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def bearer_user():
    """Set g.user from the request's Bearer token; an error response when there is none, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return error("unauthorized", "Send 'Authorization: Bearer <token>' (motcua-central token create USER).", 401)
    g.user = accounts.user_for_token(get_db(), token.strip())
    if g.user is None:
        return error("unauthorized", "Unknown, revoked or disabled token.", 401)
    return None


@bp.before_request
def authenticate():
    g.user = None
    if request.endpoint in PUBLIC:
        return None
    refused = bearer_user()
    if refused is not None:
        return refused
    if request.method == "POST" and g.user.role != "admin":
        return error("forbidden", "Only an admin may do this.", 403)
    return None


@bp.get("/central")
def central():
    return jsonify({"name": current_app.config["MOTCUA"]["name"],
                    "central_fingerprint": keys.fingerprint(current_app.extensions["motcua.central_key"]),
                    "central_time": g.now.isoformat()})


@bp.get("/nodes")
def list_nodes():
    settings = current_app.config["MOTCUA"]
    return jsonify({"nodes": nodes.listing(get_db(), g.now, settings["silent_after_hours"])})


@bp.get("/overview")
def get_overview():
    period, problem = read_filters(request.args, g.now)
    if problem:
        return error("validation_failed", "The period is invalid (dates are YYYY-MM-DD).", 422, {"period": problem})
    data = overview(get_read_db(), period, g.now, field=(request.args.get("field") or "").strip(),
                    node=(request.args.get("node") or "").strip(),
                    silent_after_hours=current_app.config["MOTCUA"]["silent_after_hours"])
    return jsonify(overview_json(data))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        raise ValueError(name) from None
    if not low <= value <= high:
        raise ValueError(name)
    return value


@bp.get("/dossiers")
def search_dossiers():
    q = (request.args.get("q") or "").strip()
    if not q:
        return error("validation_failed", "Give q: a dossier code, an ID number, a phone or a name.", 422,
                     {"q": "required"})
    try:
        limit = _int_arg("limit", 50, 1, finder.MAX_RESULTS)
        offset = _int_arg("offset", 0, 0, 1_000_000)
    except ValueError as exc:
        return error("validation_failed", f"'{exc}' must be a whole number in range.", 422, {str(exc): "invalid"})
    conn = get_read_db()
    rows = finder.search(conn, q, node=(request.args.get("node") or "").strip() or None, limit=limit, offset=offset)
    dossiers.log_access(get_db(), g.user.username, [r["code"] for r in rows], "api.search", g.now)
    return jsonify({"dossiers": rows, "limit": limit, "offset": offset})


@bp.get("/dossiers/<code>")
def dossier(code):
    conn = get_db()
    found = dossiers.get(conn, code)
    if found is None:
        return error("not_found", f"No dossier {code}.", 404)
    dossiers.log_access(conn, g.user.username, [code], "api.view", g.now)
    return jsonify({"node": found["node"], "dossier": found["state"], "hand_back": handback.pending(conn, code),
                    "documents": documents(conn, found["state"])})


def documents(conn, state: dict) -> list[dict]:
    """Each document the dossier names, with its hash and whether central holds its bytes yet."""
    held = blobs.documents_held(conn, state)
    out = []
    for a in state.get("attachments") or []:
        if isinstance(a, dict) and isinstance(a.get("hash"), str):
            out.append({key: a.get(key) for key in ("id", "component", "hash", "size", "mime", "pages", "source",
                                                    "removed_at")} | {"held": held.get(a["hash"], False)})
    return out


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


@bp.post("/online-dossiers")
def register_online():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error("bad_request", "Body must be a JSON object (Content-Type: application/json).", 400)
    node = body.get("node") or body.get("agency") or ""
    try:
        state, entry = online.register(
            get_db(), node=node if isinstance(node, str) else "", procedure_code=str(body.get("procedure_code") or ""),
            applicant=body.get("applicant"), documents=body.get("documents") or [],
            return_method=body.get("return_method") or "desk", actor=g.user.username, now=g.now, source="api")
    except workflow.WorkflowError as exc:
        return error("validation_failed", "Some fields are invalid; nothing was registered.", 422,
                     {e.field: e.message for e in exc.errors})
    return jsonify({"code": state["code"], "node": node, "feed_seq": entry["seq"], "dossier": state}), 201


@bp.get("/online-dossiers")
def list_online():
    return jsonify({"online_dossiers": online.listing(get_db(), node=(request.args.get("node") or "").strip() or None)})
