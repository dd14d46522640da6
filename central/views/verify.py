"""Public /xac-thuc at central: is a paper's QR genuine, superseded or forged? (issue 12.2)

The same code path as the node's page and ``motcua-node verify-qr`` (protocol/paper_qr.py), with
every key each commune ever registered (a paper outlives a key rotation) and central's copy of the
dossier for its current revision. No login, nothing written: the answer comes from the QR's text.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request

from protocol import paper_qr

from ..db import get_db
from ..store import dossiers, nodes

bp = Blueprint("verify", __name__)


def central_verifier(conn):
    """(public_keys_for, current_revision_for) for protocol.paper_qr.verify at central."""
    def keys_for(issuer):
        return paper_qr.load_public_keys(nodes.public_keys(conn, issuer))

    def revision_for(code):
        try:
            found = dossiers.get(conn, code)
            return None if found is None else len(found["state"].get("corrections") or [])
        except (ValueError, AttributeError, TypeError):  # a row a node sent in an odd shape
            return None
    return keys_for, revision_for


MAX_PHOTO = 4 * 1024 * 1024
PHOTO_UNREADABLE = "Không đọc được mã QR trong ảnh. Hãy chụp lại rõ, thẳng và đủ sáng, hoặc dán nội dung mã."


def _text_from_request() -> tuple[str, str | None]:
    from protocol import qr_photo
    text = (request.values.get("ma") or "").strip() if request.method == "GET" else ""
    if request.method == "POST":
        if (request.content_length or 0) > MAX_PHOTO + 64 * 1024:  # refused before the body is parsed
            return "", "Ảnh quá lớn; hãy chụp ảnh nhỏ hơn."
        photo = request.files.get("anh")
        if not photo or not photo.filename:
            return "", PHOTO_UNREADABLE
        try:
            found = qr_photo.qr_texts(photo.stream.read(MAX_PHOTO + 1))
        except qr_photo.PhotoError:
            found = []
        if not found:
            return "", PHOTO_UNREADABLE
        text = found[0]
    return text[:paper_qr.MAX_TEXT], None


@bp.route("/xac-thuc", methods=("GET", "POST"))
def index():
    text, problem = _text_from_request()
    if problem or not text:
        return render_template("verify/index.html", text=text, verdict=None, problem=problem), (400 if problem else 200)
    conn = get_db()
    verdict = paper_qr.verify(text, *central_verifier(conn))
    issuer_name = ""
    if verdict.qr is not None:
        node = nodes.get(conn, verdict.qr.issuer)
        issuer_name = node["name"] if node else ""
    status = 200 if verdict.outcome in (paper_qr.GENUINE, paper_qr.SUPERSEDED) else 422
    return render_template("verify/index.html", text=text, verdict=verdict, issuer_name=issuer_name, problem=None,
                           headline=paper_qr.HEADLINES[verdict.outcome],
                           explanation=paper_qr.EXPLANATIONS[verdict.outcome]), status
