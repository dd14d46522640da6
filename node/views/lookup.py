"""Citizen lookup, no login: dossier code + last 4 digits of the phone.

A wrong pair gets the same answer whether the code exists or not, and failures
are limited per dossier code (strict) and per address (loose: a kiosk serves many people).
The code box also accepts a scanned receipt QR.
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


ADDRESS_FACTOR = 10  # one kiosk or one NAT serves many citizens: the address limit is 10x the code limit


def _limiters():
    """(per dossier code, per address), built with the app (node/app.py): a wrong pair counts against both.

    The strict limit is per dossier code, so nobody can try phone endings on one dossier; the address
    limit is ten times looser, so one kiosk (or a commune behind one NAT) is not locked out by a few typos.
    """
    ext = current_app.extensions
    return ext["motcua.lookup_code_limiter"], ext["motcua.lookup_address_limiter"]


def code_from_scan(text: str) -> str:
    """A receipt's QR scanned into the code box gives its dossier code (the QR is decoded, not trusted)."""
    from protocol.paper_qr import NotAPaperQR, decode
    value = (text or "").strip()
    if value.upper().startswith("MC1:"):
        try:
            return decode(value)[0].dossier.upper()
        except NotAPaperQR:
            return ""
    if "ma=" in value:  # the printed lookup address, scanned or pasted
        from urllib.parse import parse_qs, urlsplit
        return (parse_qs(urlsplit(value).query).get("ma") or [""])[0].strip().upper()
    return value.upper()


@bp.route("/tra-cuu", methods=("GET", "POST"))
def lookup():
    by_code, by_address = _limiters()
    ip = request.remote_addr or "?"
    result, error, status = None, None, 200
    code = code_from_scan(request.values.get("ma") or "")
    if request.method == "POST":
        digits = (request.form.get("so") or "").strip()
        # each attempt takes its slot before it is evaluated (check and count in one step), so parallel
        # requests cannot all pass the check before any is counted; a right pair gives its slots back
        if not by_address.try_acquire(ip):
            error, status = BLOCKED, 429
        elif not parse_code(code) or not (len(digits) == 4 and digits.isdigit()):
            error, status = "Nhập mã hồ sơ (vd: 000.00.06.H56-260105-0001) và đúng 4 số cuối điện thoại.", 400
        elif not by_code.try_acquire(code):
            by_address.release(ip)
            error, status = BLOCKED, 429
        else:
            state = store.get(get_db(), code)
            phone_tail = state["applicant"]["phone"][-4:] if state else "----"
            if state is None or not hmac.compare_digest(phone_tail, digits):
                error, status = NOT_FOUND, 404
            else:
                by_address.release(ip)
                by_code.release(code)
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


PHOTO_UNREADABLE = "Không đọc được mã QR trong ảnh. Hãy chụp lại rõ, thẳng và đủ sáng, hoặc dán nội dung mã."


def qr_text_from_request(max_bytes: int) -> tuple[str, str | None]:
    """(QR text, Vietnamese problem) from ?ma= / a form field, or from an uploaded photo ("anh")."""
    from protocol import qr_photo
    text = (request.values.get("ma") or "").strip()
    photo = request.files.get("anh") if request.method == "POST" else None
    if photo and photo.filename:
        data = photo.stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            return "", "Ảnh quá lớn; hãy chụp ảnh nhỏ hơn."
        try:
            found = qr_photo.qr_texts(data)
        except qr_photo.PhotoError:
            return "", PHOTO_UNREADABLE
        if not found:
            return "", PHOTO_UNREADABLE
        text = found[0]
    return text, None


@bp.route("/xac-thuc", methods=("GET", "POST"))
def verify():
    """Public: is a paper's QR genuine, superseded by a correction, or forged? Answered offline,
    from the QR's text (typed by a scanner or pasted) or a photo of it."""
    from protocol import paper_qr

    from ..qr import node_key, node_verifier
    text, problem = qr_text_from_request(current_app.config["MAX_CONTENT_LENGTH"])
    text = text[:paper_qr.MAX_TEXT]
    if problem or not text:
        return (render_template("lookup/verify.html", text=text, verdict=None, problem=problem),
                400 if problem else 200)
    settings = current_app.config["MOTCUA"]
    key = current_app.extensions.get("motcua.node_key")
    if key is None:
        key = current_app.extensions["motcua.node_key"] = node_key(current_app.config["DATA_DIR"])
    keys_for, revision_for = node_verifier(get_db(), settings["agency_code"], key)
    verdict = paper_qr.verify(text, keys_for, revision_for)
    issuer = settings["agency_name"] if verdict.qr and verdict.qr.issuer == settings["agency_code"] else ""
    status = 200 if verdict.outcome in (paper_qr.GENUINE, paper_qr.SUPERSEDED) else 422
    return render_template("lookup/verify.html", text=text, verdict=verdict, issuer_name=issuer, problem=None,
                           headline=paper_qr.HEADLINES[verdict.outcome],
                           explanation=paper_qr.EXPLANATIONS[verdict.outcome]), status


@bp.route("/thu-tuc")
def catalogue():
    """Public kiosk catalogue (issue 12.9): published procedures, searchable without diacritics."""
    from domain.catalogue import fields as catalogue_fields
    from domain.procedure_search import rank, search_text

    from .. import reference
    conn = get_db()
    procedures = reference.procedures(conn)
    query = (request.args.get("q") or "").strip()[:100]
    field = request.args.get("linh-vuc") or ""
    shown = [p for p in procedures if not field or p.field == field]
    if query:
        shown = rank(query, shown, lambda p: search_text(p.code, p.name, p.field))
    chosen = reference.procedure(conn, request.args.get("ma", "")) if request.args.get("ma") else None
    return render_template("lookup/catalogue.html", procedures=shown, total=len(procedures), query=query,
                           field=field, fields=catalogue_fields(procedures), chosen=chosen)
