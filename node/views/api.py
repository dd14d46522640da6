"""JSON API under /api/v1 (Bearer tokens). Every error has one shape:

    {"error": {"code": "validation_failed", "message": "...", "fields": {"phone": "..."}}}
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from appshell import accounts
from domain import workflow
from domain.citizen import mask_id_number
from domain.statuses import Status

from .. import reference, store
from ..db import get_db
from .context import store_context

bp = Blueprint("api", __name__, url_prefix="/api/v1")

WRITE_ROLES = ("clerk", "leader")


def error(code: str, message: str, status: int, fields: dict | None = None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


@bp.before_request
def authenticate():
    g.user = None  # the API never rides on a browser session (it is exempt from CSRF)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return error("unauthorized", "Send 'Authorization: Bearer <token>' (motcua-node token create USER).", 401)
    g.user = accounts.user_for_token(get_db(), token.strip())
    if g.user is None:
        return error("unauthorized", "Unknown, revoked or disabled token.", 401)
    if request.method == "POST" and not g.user.can(*WRITE_ROLES):
        return error("forbidden", "This account may not change dossiers.", 403)


def _json_body() -> dict | tuple:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return error("bad_request", "Body must be a JSON object (Content-Type: application/json).", 400)
    return data


def _listed(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["id_number"] = mask_id_number(row["id_number"])
        row["phone"] = None  # lists carry no phone numbers
    return rows


def _workflow_error(exc: workflow.WorkflowError):
    fields = {e.field: e.message for e in exc.errors}
    if set(fields) == {"status"}:
        return error("illegal_transition", "The dossier's status does not allow this.", 409, fields)
    return error("validation_failed", "Some fields are invalid; nothing was saved.", 422, fields)


@bp.get("/procedures")
def procedures():
    conn = get_db()
    return jsonify({"version": reference.version(conn, "catalogue"),
                    "procedures": [p.to_dict() for p in reference.procedures(conn)]})


@bp.post("/dossiers")
def intake():
    body = _json_body()
    if isinstance(body, tuple):
        return body
    applicant = body.get("applicant")
    documents = body.get("documents")
    if not isinstance(applicant, dict) or not isinstance(documents, list) or \
            not all(isinstance(d, dict) for d in documents):
        return error("validation_failed", "'applicant' must be an object and 'documents' a list of objects.", 422)
    try:
        state = store.receive(store_context(), procedure_code=str(body.get("procedure_code") or ""),
                              applicant={k: str(v) if v is not None else "" for k, v in applicant.items()},
                              documents=documents, channel=body.get("channel") or "in_person",
                              return_method=body.get("return_method") or "desk")
    except workflow.WorkflowError as exc:
        return _workflow_error(exc)
    current_app.logger.info("received dossier %s via API", state["code"])
    return jsonify(state), 201


@bp.get("/dossiers/<code>")
def get_dossier(code):
    conn = get_db()
    state = store.get(conn, code)
    if state is None:
        return error("not_found", f"No dossier {code}.", 404)
    store.log_access(conn, g.user.username, code, "api_get", g.now)
    return jsonify(state)


@bp.post("/dossiers/<code>/actions/<action>")
def act(code, action):
    if action not in workflow.ACTIONS:
        return error("unknown_action", f"Actions are: {', '.join(workflow.ACTIONS)}.", 404)
    body = _json_body()
    if isinstance(body, tuple):
        return body
    try:
        state = store.act(store_context(), code, action, {k: v for k, v in body.items()})
    except store.NotFound:
        return error("not_found", f"No dossier {code}.", 404)
    except store.NotHolder:
        return error("not_holder", "The dossier is held by the upper level; this node cannot change it.", 409)
    except workflow.WorkflowError as exc:
        return _workflow_error(exc)
    return jsonify(state)


@bp.get("/dossiers")
def search():
    conn = get_db()
    query = request.args.get("q", "").strip()
    status = request.args.get("status", type=int)
    handler = request.args.get("handler")
    if query:
        rows = store.search(conn, query)
    elif status is not None:
        if status not in {int(s) for s in Status}:
            return error("validation_failed", "status must be a national status code 1-10.", 422)
        rows = store.list_by_status(conn, status)
    elif handler:
        rows = store.list_by_handler(conn, handler)
    else:
        return error("validation_failed", "Give q (code, ID number, phone or name), status or handler.", 422)
    return jsonify({"dossiers": _listed(rows)})


@bp.get("/lists/<name>")
def lists(name):
    conn = get_db()
    if name == "today":
        rows = store.list_today(conn, g.now)
    elif name == "due_soon":
        rows = store.list_due_soon(conn, g.now, current_app.extensions["motcua.calendar"].get(conn))
    elif name == "overdue":
        rows = store.list_overdue(conn, g.now)
    else:
        return error("not_found", "Lists are today, due_soon and overdue.", 404)
    return jsonify({"dossiers": _listed(rows)})
