"""An admin at central opens a document file central holds (issue 11).

GET /ho-so/<code>/tai-lieu/<attachment id>   admin only; the file decrypted with central's key (the
    object's SHA-256 checked), served ``no-store`` and inline, and written to the access log like
    every view of personal data (``central.store.dossiers.log_access``). A document central does not
    hold yet (its bytes still on their way from the commune) is a 404 with a Vietnamese line.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, g, make_response

from appshell.web_auth import admin_required
from protocol import blobobject

from ..blobstore import StorageError, storage_for
from ..db import get_db
from ..store import blobs, dossiers

bp = Blueprint("central_documents", __name__)
MIMES = {"image/jpeg", "application/pdf"}


def _plain(text: str, status: int) -> Response:
    return make_response((text, status, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}))


@bp.get("/ho-so/<code>/tai-lieu/<attachment_id>")
@admin_required
def view(code, attachment_id):
    conn = get_db()
    found = dossiers.get(conn, code)
    if found is None:
        abort(404)
    attachment = next((a for a in found["state"].get("attachments") or []
                       if isinstance(a, dict) and a.get("id") == attachment_id and isinstance(a.get("hash"), str)),
                      None)
    if attachment is None:
        abort(404)
    digest = attachment["hash"]
    storage = storage_for(current_app.config["DATA_DIR"], current_app.config["MOTCUA"])
    if not blobs.held(conn, [digest]) or not storage.has(digest):
        return _plain("Cấp trên chưa nhận được tệp này từ xã (tệp được gửi sau hồ sơ).", 404)
    try:
        data = blobobject.open_object(storage.read(digest), digest, current_app.extensions["motcua.central_key"])
    except (blobobject.BlobObjectError, StorageError) as exc:
        current_app.logger.error("document of %s unreadable at central: %s", code, exc)
        return _plain("Tệp lưu tại cấp trên bị hỏng; cán bộ kỹ thuật cần chạy motcua-central blobs check.", 500)
    dossiers.log_access(conn, g.user.username, [code], f"web.document:{attachment_id}", g.now)
    mime = attachment.get("mime") if attachment.get("mime") in MIMES else "application/octet-stream"
    response = Response(data, mimetype=mime)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response
