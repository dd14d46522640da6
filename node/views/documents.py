"""Documents at the desk: attach (files, drag-and-drop, a phone on the LAN), view, exempt, reuse; the results
register; the JSON API for portal adapters and scanner workstations.

Pages
    POST /ho-so/<code>/tai-lieu                      attach files to a component (multipart: component, file...)
    POST /ho-so/<code>/tai-lieu/<id>/go              remove one, with a reason
    GET  /ho-so/<code>/tai-lieu/<id>                 open it (no-store, access-logged)
    GET  /ho-so/<code>/tai-lieu/<id>/anh-nho         its thumbnail (no-store, access-logged)
        (opening a file named here but missing from this disk, on a node rebuilt after its disk died,
        fetches it back from central first when the link is up, with its thumbnail; else a Vietnamese
        message: node/blob_restore.py)
    POST /ho-so/<code>/mien-so-hoa                   mark a component exempt (or clear it)
    POST /ho-so/<code>/dung-lai                      reuse an earlier paper of the same citizen
    POST /ho-so/<code>/so-ket-qua                    register the result (số, ký hiệu, ...) with its scan
    POST /ho-so/<code>/chup-anh                      make a one-time phone-capture QR
    GET|POST /chup/<token>                           the phone's capture page (no login: the link is the key)
    GET  /so-ket-qua                                 the yearly results register, searchable by citizen ID
API (Bearer token, one JSON error shape)
    POST /api/v1/dossiers/<code>/attachments         multipart component + file(s) -> hash, type, size, pages
    GET  /api/v1/dossiers/<code>/attachments         list
    GET  /api/v1/dossiers/<code>/attachments/<id>    the file (access-logged)

Upload bodies: each file may be up to ``document_max_file_mb``; one request carries at most
``MAX_FILES`` files. These routes' body cap is ``upload_cap``: MAX_FILES x that, but never more than
``max_request_bytes``, which waitress enforces before the app sees a body (node/settings.py checks at
start-up that one largest file fits). An upload over the cap gets a Vietnamese answer saying the limits,
from the server when the body reaches the app, and from documents.js before it is sent when it would not.
"""
from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from appshell import accounts
from appshell.web_auth import login_required
from domain import digitisation

from .. import documents, store
from ..blobs import BlobError, BlobStore
from ..db import get_db
from ..qr import qr_svg
from ..settings import UPLOAD_OVERHEAD
from . import api
from .context import store_context

bp = Blueprint("documents", __name__)
api_bp = Blueprint("documents_api", __name__, url_prefix="/api/v1")
MAX_FILES = 8
CAPTURE_COOKIE = "motcua_capture"


def register(app) -> None:
    """Called once from the app factory: both blueprints, the API one exempt from CSRF like the API."""
    from appshell.web import error_response

    from ..app import csrf
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)
    # first of all hooks: CSRFProtect reads the form in its own, and the form is parsed under the cap once
    app.before_request_funcs.setdefault(None, []).insert(0, upload_cap_hook)

    @app.errorhandler(413)
    def too_large(_exc):
        """An upload over the cap says the limits in Vietnamese (the API in its one error shape)."""
        if request.endpoint not in UPLOAD_ENDPOINTS:
            return error_response(413)
        message = too_large_message(_settings())
        if request.path.startswith("/api/"):
            return api.error("too_large", message, 413)
        return render_template("error.html", title="Tệp gửi lên quá lớn", message=message), 413


def blob_store() -> BlobStore:
    store_ = current_app.extensions.get("motcua.blobs")
    if store_ is None:
        store_ = current_app.extensions["motcua.blobs"] = BlobStore(current_app.config["DATA_DIR"])
    return store_


def _settings() -> dict:
    return current_app.config["MOTCUA"]


def upload_cap(settings: dict) -> int:
    """The largest body an upload route accepts: never more than the server's own cap (max_request_bytes)."""
    return min(MAX_FILES * documents.caps(settings)[0] + UPLOAD_OVERHEAD, settings["max_request_bytes"])


def too_large_message(settings: dict) -> str:
    return (f"Các tệp gửi lên lần này quá lớn: mỗi lần gửi tối đa {upload_cap(settings) // 2**20} MB, mỗi tệp "
            f"tối đa {settings['document_max_file_mb']} MB. Chưa có gì được lưu. Hãy gửi ít tệp hơn mỗi lần, "
            "hoặc quét/chụp lại với độ phân giải thấp hơn.")


def _allow_uploads() -> None:
    request.max_content_length = upload_cap(_settings())


UPLOAD_ENDPOINTS = {"desk.intake", "documents.attach", "documents.result", "documents.capture",
                    "documents_api.api_attach"}


def upload_cap_hook():
    """Uploads may be larger than other bodies (``upload_cap``) on these routes only."""
    if request.method == "POST" and request.endpoint in UPLOAD_ENDPOINTS:
        _allow_uploads()


api_bp.before_request(api.authenticate)


def _files() -> list[bytes]:
    files = [f for f in request.files.getlist("file") if f and f.filename != ""]
    if len(files) > MAX_FILES:
        raise documents.DocumentRefused("too_many", f"Mỗi lần gửi tối đa {MAX_FILES} tệp.", 413)
    max_file = documents.caps(_settings())[0]
    out = []
    for f in files:
        data = f.stream.read(max_file + 1)
        out.append(data)
    return out


def _restore(state: dict, digest: str) -> str | None:
    """A document named here but not on this disk (a node rebuilt after its disk died): fetch it from
    central now (node/blob_restore.py). None when it is back, else the clerk's message."""
    from .. import blob_restore
    from ..sync import make_client
    from ..sync_client import SyncError
    conn = get_db()
    settings = dict(_settings())
    settings["sync_read_timeout"] = min(int(settings.get("sync_read_timeout") or 30), 30)  # a clerk is waiting
    settings["sync_connect_timeout"] = min(int(settings.get("sync_connect_timeout") or 5), 5)
    try:
        client = make_client(conn, Path(current_app.config["DATA_DIR"]), settings)
    except SyncError:
        return blob_restore.MESSAGES["not_enrolled"]
    try:
        blob_restore.restore_one(conn, client, blob_store(), digest)
    except blob_restore.RestoreFailed as exc:
        current_app.logger.warning("document of %s not restored from central: %s", state["code"], exc)
        return exc.message
    except BlobError as exc:
        current_app.logger.error("cannot store the restored document of %s: %s", state["code"], exc)
        return blob_restore.MESSAGES["damaged"]
    return None


def _send(state: dict, attachment: dict, thumb: bool = False) -> Response:
    conn = get_db()
    digest = attachment["hash"]
    mime = attachment["mime"]
    if not blob_store().exists(digest):
        if thumb:  # a dossier page asks for every thumbnail at once: only opening a document fetches it
            return make_response(("", 404))
        problem = _restore(state, digest)
        if problem:
            return make_response((problem, 503, {"Content-Type": "text/plain; charset=utf-8"}))
    if thumb:
        row = conn.execute("SELECT thumb FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if row is None or not row["thumb"]:
            return make_response(("", 404))
        digest, mime = row["thumb"], "image/jpeg"
    try:
        data = blob_store().get(digest)
    except BlobError as exc:
        current_app.logger.error("cannot read document of %s: %s", state["code"], exc)
        return make_response(("Tệp không đọc được trên máy này.", 404))
    store.log_access(conn, (g.user.username if g.user else "?"), state["code"],
                     f"document_{'thumb' if thumb else 'view'}:{attachment['id']}", g.now)
    response = Response(data, mimetype=mime)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response


# --- template helpers for the dossier page and form 01 -------------------------------------------------

@bp.app_template_global()
def document_components(d: dict) -> list[dict]:
    return digitisation.components(d)


@bp.app_template_global()
def document_result_files(d: dict) -> list[dict]:
    return digitisation.result_files(d)


@bp.app_template_global()
def digitisation_rates(period, field: str | None = None) -> dict:
    from domain import reports
    return reports.digitisation_rates_sql(get_db(), period.start, period.end,
                                          filters={"field": field} if field else None)


@bp.app_template_filter("percent")
def percent(value) -> str:
    return "—" if value is None else ("%.1f" % (value * 100)).replace(".", ",") + "%"


@bp.app_context_processor
def document_labels():
    return {"exemption_labels": digitisation.EXEMPTIONS, "digitisation_states": digitisation.STATES,
            "document_sources": digitisation.SOURCES, "upload_max_bytes": upload_cap(_settings()),
            "upload_too_large": too_large_message(_settings())}


def _back(code: str):
    return redirect(url_for("desk.dossier", code=code) + "#documents"), 303


def _load_or_404(code: str) -> dict:
    state = store.get(get_db(), code)
    if state is None:
        abort(404)
    return state


# --- pages ------------------------------------------------------------------------------------

@bp.post("/ho-so/<code>/tai-lieu")
@login_required(roles=("clerk", "leader"))
def attach(code):
    _load_or_404(code)
    try:
        attachment = documents.attach(store_context(), blob_store(), _settings(), code,
                                      request.form.get("component"), _files(), source="file")
    except documents.DocumentRefused as exc:
        flash("Chưa đính kèm được tệp: " + exc.message)
        return _back(code)
    current_app.logger.info("attached %s (%d bytes) to %s", attachment["mime"], attachment["size"], code)
    flash(f"Đã đính kèm tệp ({attachment['pages']} trang, {attachment['size'] // 1024} KB).")
    return _back(code)


@bp.post("/ho-so/<code>/tai-lieu/<attachment_id>/go")
@login_required(roles=("clerk", "leader"))
def remove(code, attachment_id):
    _load_or_404(code)
    try:
        documents.remove(store_context(), code, attachment_id, request.form.get("reason", ""))
    except documents.DocumentRefused as exc:
        flash("Chưa gỡ được tệp: " + exc.message)
        return _back(code)
    flash("Đã gỡ tệp khỏi hồ sơ.")
    return _back(code)


@bp.get("/ho-so/<code>/tai-lieu/<attachment_id>")
@login_required
def view(code, attachment_id):
    return _open(code, attachment_id)


@bp.get("/ho-so/<code>/tai-lieu/<attachment_id>/anh-nho")
@login_required
def thumbnail(code, attachment_id):
    return _open(code, attachment_id, thumb=True)


def _open(code: str, attachment_id: str, *, thumb: bool = False):
    """One attachment of a dossier (or its thumbnail), access-logged by ``_send``; 404 for an unknown one."""
    state = _load_or_404(code)
    attachment = documents.find_attachment(state, attachment_id)
    if attachment is None:
        abort(404)
    return _send(state, attachment, thumb=thumb)


@bp.post("/ho-so/<code>/mien-so-hoa")
@login_required(roles=("clerk", "leader"))
def exempt(code):
    _load_or_404(code)
    try:
        documents.mark(store_context(), code, request.form.get("component"), request.form.get("exemption") or None)
    except documents.DocumentRefused as exc:
        flash("Chưa ghi nhận được: " + exc.message)
        return _back(code)
    flash("Đã ghi nhận tình trạng số hóa của thành phần hồ sơ.")
    return _back(code)


@bp.post("/ho-so/<code>/dung-lai")
@login_required(roles=("clerk", "leader"))
def reuse(code):
    _load_or_404(code)
    count = 0
    try:
        for value in request.form.getlist("reuse"):
            from_code, _, rest = value.partition("/")
            attachment_id, _, component = rest.partition("/")
            documents.reuse(store_context(), code, component, from_code, attachment_id)
            count += 1
    except documents.DocumentRefused as exc:
        flash(f"Đã dùng lại {count} giấy tờ; giấy tờ tiếp theo chưa dùng lại được: {exc.message}")
        return _back(code)
    flash(f"Đã dùng lại {count} giấy tờ đã số hóa (không cần công dân nộp lại).")
    return _back(code)


@bp.post("/ho-so/<code>/so-ket-qua")
@login_required(roles=("clerk", "leader"))
def result(code):
    _load_or_404(code)
    ctx = store_context()
    try:
        try:  # the register's fields first, so a bad field leaves no scan attached either
            digitisation.register_result(request.form.to_dict(), "", ctx.actor)
        except digitisation.DigitisationError as exc:
            raise documents.DocumentRefused(exc.errors[0].field, exc.message) from None
        files = _files()
        if files:  # then the scan: a bad file must leave the register untouched
            documents.attach(ctx, blob_store(), _settings(), code, digitisation.RESULT, files)
        documents.register_result(ctx, code, request.form.to_dict())
    except documents.DocumentRefused as exc:
        flash("Chưa vào sổ kết quả: " + exc.message)
        return _back(code)
    flash("Đã vào sổ kết quả" + (" kèm bản quét." if files else "."))
    return _back(code)


@bp.post("/ho-so/<code>/chup-anh")
@login_required(roles=("clerk", "leader"))
def capture_qr(code):
    state = _load_or_404(code)
    minutes = _settings()["capture_link_minutes"]
    try:
        token = documents.create_capture_link(get_db(), code, g.user.username, request.form.get("component"),
                                              g.now, minutes)
    except documents.DocumentRefused as exc:
        flash("Chưa tạo được mã QR: " + exc.message)
        return _back(code)
    base = (_settings().get("public_url") or request.host_url).rstrip("/")
    link = f"{base}{url_for('documents.capture', token=token)}"
    component = request.form.get("component")
    name = (state["documents"][int(component)]["name"] if component and component.isdigit()
            and int(component) < len(state["documents"]) else "Kết quả giải quyết")
    return render_template("documents/capture_qr.html", d=state, link=link, qr=qr_svg(link, "Mã QR chụp ảnh"),
                           minutes=minutes, component_name=name)


@bp.route("/chup/<token>", methods=("GET", "POST"))
def capture(token):
    conn = get_db()
    device = request.cookies.get(CAPTURE_COOKIE)
    try:
        if request.method == "GET" and not device:
            link, device = documents.claim_capture_link(conn, token, g.now)
        else:
            link = documents.capture_link(conn, token, device, g.now)
    except documents.DocumentRefused as exc:
        return render_template("error.html", title="Liên kết không còn hiệu lực", message=exc.message), exc.status
    clerk = accounts.by_name(conn, link["username"])
    if clerk is None or not clerk.active:  # the link is bound to a clerk who must still be allowed in
        return render_template("error.html", title="Liên kết không còn hiệu lực",
                               message="Tài khoản đã tạo mã QR không còn hoạt động."), 410
    state = store.get(conn, link["dossier"])
    message, error, status = None, None, 200
    if request.method == "POST":
        try:
            attachment = documents.attach(store_context(actor=link["username"]), blob_store(), _settings(),
                                          link["dossier"], link["component"], _files(), source="phone")
            message = f"Đã gửi {attachment['pages']} trang ({attachment['size'] // 1024} KB) vào hồ sơ."
            state = store.get(conn, link["dossier"])
        except documents.DocumentRefused as exc:
            error, status = exc.message, exc.status
    component = link["component"]
    name = state["documents"][int(component)]["name"] if component.isdigit() else "Kết quả giải quyết"
    response = make_response(render_template("documents/capture.html", token=token, code=link["dossier"],
                                              component_name=name, message=message, error=error,
                                              expires=link["expires_at"]), status)
    response.set_cookie(CAPTURE_COOKIE, device, max_age=3600, httponly=True, samesite="Strict",
                        path=url_for("documents.capture", token=token))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/so-ket-qua")
@login_required
def register_page():
    conn = get_db()
    year = request.args.get("nam", type=int) or g.now.year
    id_number = "".join(ch for ch in request.args.get("cccd", "") if ch.isdigit())
    rows = documents.results_register(conn, year, id_number or None)
    if id_number:
        store.log_access(conn, g.user.username, f"register:{year}", "search_by_id", g.now)
    return render_template("documents/register.html", rows=rows, year=year, id_number=id_number)


@bp.get("/bao-cao/so-hoa.csv")
@login_required
def rates_csv():
    from domain import reports
    try:
        period = reports.parse_period(request.args.get("from"), request.args.get("to"), g.now.date())
    except ValueError as exc:
        return render_template("error.html", title="Kỳ báo cáo không hợp lệ", message=str(exc)), 400
    field = request.args.get("linh-vuc") or None
    rates = reports.digitisation_rates_sql(get_db(), period.start, period.end, filters={"field": field})
    settings = _settings()
    body = reports.digitisation_csv(rates, {settings["agency_code"]: settings["agency_name"]})
    name = f"so-hoa-{settings['agency_code']}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# --- JSON API ---------------------------------------------------------------------------------

def _api_refused(exc: documents.DocumentRefused):
    return api.error(exc.code, exc.message, exc.status)


def _public(a: dict) -> dict:
    return {k: a.get(k) for k in ("id", "component", "hash", "mime", "size", "pages", "original_size", "source",
                                  "reused_from", "at", "by", "removed_at", "removed_reason")} | {"type": a["mime"]}


@api_bp.post("/dossiers/<code>/attachments")
def api_attach(code):
    try:
        attachment = documents.attach(store_context(), blob_store(), _settings(), code,
                                      request.form.get("component"), _files(), source="api")
    except documents.DocumentRefused as exc:
        return _api_refused(exc)
    return jsonify(_public(attachment)), 201


@api_bp.get("/dossiers/<code>/attachments")
def api_list(code):
    state = store.get(get_db(), code)
    if state is None:
        return api.error("not_found", f"No dossier {code}.", 404)
    return jsonify({"attachments": [_public(a) for a in state.get("attachments") or []],
                    "components": [{k: c[k] for k in ("index", "name", "status", "exemption")}
                                   for c in digitisation.components(state)]})


@api_bp.get("/dossiers/<code>/attachments/<attachment_id>")
def api_get(code, attachment_id):
    state = store.get(get_db(), code)
    if state is None:
        return api.error("not_found", f"No dossier {code}.", 404)
    attachment = documents.find_attachment(state, attachment_id)
    if attachment is None:
        return api.error("not_found", f"No attachment {attachment_id} in {code}.", 404)
    response = _send(state, attachment)
    if response.status_code != 200:
        return api.error("blob_missing", "The file is not readable on this node.", 409)
    return response


# --- intake (called from desk.intake) ------------------------------------------------------------

def prepare_intake(errors: dict) -> dict:
    """Before the dossier is saved: normalise each ticked paper's scans (``scan_<doc value>``), writing nothing.

    Returns {doc form value: Normalised}; a refused file sets ``errors["scans"]`` and then nothing at all
    is saved (no dossier, no blob).
    """
    prepared = {}
    max_file = documents.caps(_settings())[0]
    for key in request.files:
        if not key.startswith("scan_"):
            continue
        files = [f.stream.read(max_file + 1) for f in request.files.getlist(key) if f and f.filename]
        if not files:
            continue
        try:
            prepared[key[5:]] = documents.normalise(_settings(), files)
        except documents.DocumentRefused as exc:
            errors["scans"] = exc.message
            return {}
    return prepared


def finish_intake(state: dict, prepared: dict) -> None:
    """After the dossier is saved: store its scans (file first, then the event) and the ticked reused papers.

    A crash between the dossier and its scans leaves a dossier without them, never an event without its file.
    """
    ticked = [v for v in request.form.getlist("doc") if v.isdigit()]
    position = {value: i for i, value in enumerate(ticked)}  # the dossier lists ticked papers in form order
    ctx = store_context()
    problems = []
    for value, normalised in prepared.items():
        if value in position:
            try:
                item = documents.store_normalised(blob_store(), normalised)
                documents.record(ctx, _settings(), state["code"], position[value], item, source="file")
            except documents.DocumentRefused as exc:
                problems.append(exc.message)
    for value in request.form.getlist("reuse"):
        target = request.form.get(f"reuse_for_{value}", "")
        from_code, _, attachment_id = value.partition("/")
        if target not in position:
            continue
        try:
            documents.reuse(ctx, state["code"], position[target], from_code, attachment_id)
        except documents.DocumentRefused as exc:
            problems.append(exc.message)
    if problems:
        flash("Một số tài liệu chưa đính kèm được: " + " ".join(problems))


@bp.get("/tiep-nhan/giay-to-da-so-hoa")
@login_required(roles=("clerk", "leader"))
def reuse_candidates():
    id_number = "".join(ch for ch in request.args.get("cccd", "") if ch.isdigit())
    conn = get_db()
    papers = documents.earlier_papers(conn, id_number, g.now.date()) if len(id_number) == 12 else []
    for code in sorted({p["dossier"] for p in papers}):
        store.log_access(conn, g.user.username, code, "reuse_lookup", g.now)
    return jsonify({"papers": [{k: p[k] for k in ("dossier", "attachment", "name", "mime", "pages", "valid",
                                                  "valid_until", "is_result")} for p in papers]})


def _api_body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _api_state(code: str, state: dict):
    return jsonify({"attachments": [_public(a) for a in state.get("attachments") or []],
                    "components": [{k: c[k] for k in ("index", "name", "status", "exemption")}
                                   for c in digitisation.components(state)],
                    "result_record": state.get("result_record")})


@api_bp.post("/dossiers/<code>/attachments/<attachment_id>/remove")
def api_remove(code, attachment_id):
    body = _api_body()
    if body is None:
        return api.error("bad_request", "Body must be a JSON object with a 'reason'.", 400)
    try:
        state = documents.remove(store_context(), code, attachment_id, str(body.get("reason") or ""))
    except documents.DocumentRefused as exc:
        return _api_refused(exc)
    return _api_state(code, state)


@api_bp.post("/dossiers/<code>/components/<component>/exemption")
def api_exempt(code, component):
    body = _api_body()
    if body is None:
        return api.error("bad_request", "Body must be a JSON object with 'exemption' "
                                        f"({', '.join(digitisation.EXEMPTIONS)} or null).", 400)
    try:
        state = documents.mark(store_context(), code, component, body.get("exemption") or None)
    except documents.DocumentRefused as exc:
        return _api_refused(exc)
    return _api_state(code, state)


@api_bp.post("/dossiers/<code>/result")
def api_result(code):
    body = _api_body()
    if body is None:
        return api.error("bad_request", "Body must be a JSON object (number, symbol, date, signer, valid_until, "
                                        "scope); attach the scan with component=result.", 400)
    try:
        state = documents.register_result(store_context(), code, {k: str(v) for k, v in body.items()
                                                                   if v is not None})
    except documents.DocumentRefused as exc:
        return _api_refused(exc)
    return _api_state(code, state)


@api_bp.post("/dossiers/<code>/attachments/reuse")
def api_reuse(code):
    body = _api_body()
    if body is None or not all(isinstance(body.get(k), (str, int)) for k in ("dossier", "attachment", "component")):
        return api.error("bad_request", "Body must be a JSON object with 'dossier', 'attachment' and 'component'.", 400)
    try:
        attachment = documents.reuse(store_context(), code, str(body["component"]), str(body["dossier"]),
                                     str(body["attachment"]))
    except documents.DocumentRefused as exc:
        return _api_refused(exc)
    return jsonify(_public(attachment)), 201


@api_bp.get("/citizens/<id_number>/papers")
def api_papers(id_number):
    """A citizen's earlier digitised papers and results, with validity (every dossier named is access-logged)."""
    if not id_number.isdigit() or len(id_number) != 12:
        return api.error("validation_failed", "id_number must be 12 digits.", 422)
    conn = get_db()
    papers = documents.earlier_papers(conn, id_number, g.now.date())
    for code in sorted({p["dossier"] for p in papers}):
        store.log_access(conn, g.user.username, code, "api_reuse_lookup", g.now)
    return jsonify({"papers": papers})
