"""JSON API additions under /api/v1 (Bearer tokens, the error shape of central/api.py).

GET  /api/v1/central                  public: central's name, key fingerprint and time
GET  /api/v1/overview?from=&to=&field=&node=
GET  /api/v1/dossiers?q=&node=&limit=&offset=   (ID numbers masked; every listed dossier is logged)
POST /api/v1/online-dossiers          admin: register an online dossier for a commune (hand-down)
GET  /api/v1/online-dossiers?node=
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from domain import workflow

from .. import api as core, keys, online
from .. import search as finder
from ..db import get_db
from .dossiers import log_access
from .overview import overview, overview_json, read_filters

bp = Blueprint("webapi", __name__, url_prefix="/api/v1")
error = core.error
PUBLIC = {"webapi.central"}


@bp.before_request
def authenticate():
    g.user = None
    if request.endpoint not in PUBLIC:
        return core._authenticate()


@bp.get("/central")
def central():
    return jsonify({"name": current_app.config["MOTCUA"]["name"],
                    "central_fingerprint": keys.fingerprint(current_app.extensions["motcua.central_key"]),
                    "central_time": g.now.isoformat()})


@bp.get("/overview")
def get_overview():
    period, problem = read_filters(request.args, g.now)
    if problem:
        return error("validation_failed", "The period is invalid (dates are YYYY-MM-DD).", 422, {"period": problem})
    data = overview(get_db(), period, g.now, field=(request.args.get("field") or "").strip(),
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
    conn = get_db()
    rows = finder.search(conn, q, node=(request.args.get("node") or "").strip() or None, limit=limit, offset=offset)
    log_access(conn, g.user.username, [r["code"] for r in rows], "api.search", g.now)
    return jsonify({"dossiers": rows, "limit": limit, "offset": offset})


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
