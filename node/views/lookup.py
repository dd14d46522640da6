"""Citizen lookup, no login: dossier code + last 4 digits of the phone.

A wrong pair gets the same answer whether the code exists or not, and failures
are limited per address so codes cannot be enumerated.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, g, render_template, request

from domain.citizen import mask_name
from domain.codes import parse_code
from domain.statuses import Status, is_overdue, label
from domain.workflow import iso

from .. import store
from ..db import get_db

bp = Blueprint("lookup", __name__)

NOT_FOUND = "Không tìm thấy hồ sơ khớp với mã hồ sơ và 4 số cuối điện thoại đã nhập."
BLOCKED = "Bạn đã tra cứu sai quá nhiều lần. Vui lòng thử lại sau 10 phút."


@bp.route("/tra-cuu", methods=("GET", "POST"))
def lookup():
    limiter = current_app.extensions["motcua.lookup_limiter"]
    ip = request.remote_addr or "?"
    result, error, status = None, None, 200
    code = (request.values.get("ma") or "").strip().upper()
    if request.method == "POST":
        digits = (request.form.get("so") or "").strip()
        if limiter.blocked(ip):
            error, status = BLOCKED, 429
        elif not parse_code(code) or not (len(digits) == 4 and digits.isdigit()):
            error, status = "Nhập mã hồ sơ (vd: 000.00.06.H56-260105-0001) và đúng 4 số cuối điện thoại.", 400
            limiter.hit(ip)
        else:
            state = store.get(get_db(), code)
            phone_tail = state["applicant"]["phone"][-4:] if state else "----"
            if state is None or not hmac.compare_digest(phone_tail, digits):
                limiter.hit(ip)
                error, status = NOT_FOUND, 404
            else:
                result = {
                    "code": state["code"], "name": mask_name(state["applicant"]["name"]),
                    "procedure": state["procedure_name"], "status": label(state["status"]),
                    "status_code": state["status"], "received_at": state["received_at"],
                    "due_at": state["due_at"], "returned_at": state["returned_at"],
                    "ready": Status(state["status"]) == Status.RESOLVED,
                    "overdue": is_overdue(state["status"], state["due_at"], iso(g.now)),
                    "held_above": state["holder"] != "node",
                }
    return render_template("lookup/lookup.html", result=result, error=error, code=code), status


@bp.route("/xac-thuc")
def verify():
    """Public: is a paper's QR genuine, superseded by a correction, or forged? Answered offline."""
    from protocol import paper_qr

    from ..qr import node_key, node_verifier
    text = (request.args.get("ma") or "").strip()[:paper_qr.MAX_TEXT]
    if not text:
        return render_template("lookup/verify.html", text="", verdict=None)
    settings = current_app.config["MOTCUA"]
    key = current_app.extensions.get("motcua.node_key")
    if key is None:
        key = current_app.extensions["motcua.node_key"] = node_key(current_app.config["DATA_DIR"])
    keys_for, revision_for = node_verifier(get_db(), settings["agency_code"], key)
    verdict = paper_qr.verify(text, keys_for, revision_for)
    issuer = settings["agency_name"] if verdict.qr and verdict.qr.issuer == settings["agency_code"] else ""
    status = 200 if verdict.outcome in (paper_qr.GENUINE, paper_qr.SUPERSEDED) else 422
    return render_template("lookup/verify.html", text=text, verdict=verdict, issuer_name=issuer,
                           headline=paper_qr.HEADLINES[verdict.outcome],
                           explanation=paper_qr.EXPLANATIONS[verdict.outcome]), status
