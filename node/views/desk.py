"""The clerk's desk: overview, intake, a dossier's page and its actions, lists and search."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from appshell.web_auth import login_required
from domain import list_export, workflow
from domain.card import NotACard, parse_card
from domain.catalogue import fields as catalogue_fields
from domain.procedure_search import search_text
from domain.statuses import LABELS, Status, label
from domain.text import fold

from .. import events, reference, store
from ..db import get_db
from . import documents as documents_views
from .context import store_context

bp = Blueprint("desk", __name__)



def _calendar():
    return current_app.extensions["motcua.calendar"].get(get_db())


HOME_LISTS = ("qua-han", "den-han-hom-nay", "sap-den-han", "cho-tiep-nhan", "co-ket-qua", "hom-nay")
HOME_ROWS = 20


@bp.route("/")
@login_required
def home():
    """The desk's day: true totals on every badge, the first rows of each list, a link to the rest."""
    conn = get_db()
    calendar = _calendar()
    sections = []
    for kind in HOME_LISTS:
        rows, total = store.find(conn, store.ListQuery(kind=kind, sort="han-tra" if kind not in (
            "hom-nay", "cho-tiep-nhan") else "moi-nhat"), g.now, calendar, limit=HOME_ROWS)
        sections.append({"kind": kind, "title": store.LIST_KINDS[kind], "rows": rows, "total": total})
    return render_template("desk/home.html", sections=sections,
                           days_overdue=lambda r: list_export.days_overdue(r, g.now))


def _documents_from_form(form) -> list[dict]:
    docs = []
    for index in form.getlist("doc"):
        if not index.isdigit():
            continue
        docs.append({"name": form.get(f"doc_name_{index}", ""), "kind": form.get(f"doc_kind_{index}", "original"),
                     "count": form.get(f"doc_count_{index}", "1")})
    extra = (form.get("doc_extra") or "").strip()
    if extra:
        docs.append({"name": extra, "kind": form.get("doc_extra_kind", "copy"),
                     "count": form.get("doc_extra_count", "1")})
    return docs


APPLICANT_FIELDS = ("name", "id_number", "phone", "address", "email", "birth_date", "sex")


@bp.route("/tiep-nhan", methods=("GET", "POST"))
@login_required(roles=("clerk", "leader"))
def intake():
    conn = get_db()
    procedures = reference.procedures(conn)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        applicant = {k: form.get(k, "") for k in APPLICANT_FIELDS}
        representative = {k: form.get(f"rep_{k}", "") for k in ("name", "id_number", "phone", "relationship")}
        scans = documents_views.prepare_intake(errors)  # scans made durable first; a bad file saves nothing
        try:
            if errors:
                raise workflow.WorkflowError([])
            state = store.receive(store_context(), procedure_code=form.get("procedure", ""), applicant=applicant,
                                  documents=_documents_from_form(form), channel=form.get("channel", ""),
                                  return_method=form.get("return_method", ""), representative=representative)
        except workflow.WorkflowError as exc:
            for e in exc.errors:
                key = e.field.split(".")[0]
                errors[key] = f"{errors[key]} {e.message}" if key in errors else e.message
        else:
            current_app.logger.info("received dossier %s", state["code"])
            documents_views.finish_intake(state, scans)
            flash(f"Đã tiếp nhận hồ sơ {state['code']}. Hạn trả kết quả: "
                  f"{workflow.parse_iso(state['due_at']):%H:%M %d/%m/%Y}.")
            if form.get("after") == "print":  # "Lưu và in": straight to form 01 with the print dialog open
                return redirect(url_for("forms.dossier_form", code=state["code"], form_no="01", **{"in": "1"}))
            return redirect(url_for("desk.dossier", code=state["code"], printed="01"))
    selected = reference.procedure(conn, form.get("procedure", "")) if form.get("procedure") else None
    return render_template("desk/intake.html", procedures=procedures, fields=catalogue_fields(procedures),
                           selected=selected, errors=errors, form=form, search_text=search_text,
                           channels=workflow.CHANNELS, return_methods=workflow.RETURN_METHODS,
                           catalogue_version=reference.version(conn, "catalogue")), (400 if errors else 200)


@bp.route("/tiep-nhan/doc-the", methods=("POST",))
@login_required(roles=("clerk", "leader"))
def card_read():
    """A card QR typed by the desk's scanner: parse it here (one parser), log the read, return the fields.

    The read is an access to personal data: one access_log row, and nothing of it in the app log.
    """
    body = request.get_json(silent=True) or {}
    payload = body.get("payload") if isinstance(body, dict) else None
    try:
        card = parse_card(payload if isinstance(payload, str) else "")
    except NotACard:
        message = "Không đọc được thông tin trên thẻ. Vui lòng quét lại hoặc nhập tay."
        return jsonify({"error": {"code": "not_a_card", "message": message}}), 400
    store.log_access(get_db(), g.user.username, "*card*", f"card_read:{card.kind}", g.now)
    fields = card.applicant()
    if fields.get("birth_date"):
        fields["birth_date"] = f"{fields['birth_date'][8:10]}/{fields['birth_date'][5:7]}/{fields['birth_date'][:4]}"
    return jsonify({"kind": card.kind, "fields": fields, "missing": list(card.missing)})


def _staff_names(conn) -> dict[str, str]:
    """username -> full name, for histories (issue 12.7: people, not logins)."""
    return {r["username"]: r["full_name"] for r in conn.execute("SELECT username, full_name FROM users")
            if r["full_name"]}


def _load(code: str) -> dict:
    state = store.get(get_db(), code)
    if state is None:
        abort(404)
    return state


@bp.route("/ho-so/<code>")
@login_required
def dossier(code):
    state = _load(code)
    conn = get_db()
    store.log_access(conn, g.user.username, code, "view", g.now)
    return render_template("desk/dossier.html", d=state, history=events.for_dossier(conn, code),
                           actions=workflow.available_actions(state) if state["holder"] == "node" else [],
                           action_labels={k: v[1] for k, v in workflow.ACTIONS.items()},
                           ratings=workflow.RATINGS, return_methods=workflow.RETURN_METHODS,
                           staff_names=_staff_names(conn),
                           time_left=(workflow.parse_iso(state["due_at"]) - g.now).total_seconds()
                           if state["due_at"] and Status(state["status"]) in (Status.RECEIVED, Status.PROCESSING,
                                                                              Status.FEE_REQUESTED) else None,
                           can_correct=state["holder"] == "node" and g.user.can("clerk", "leader") and (
                               Status(state["status"]) in workflow.CLERK_CORRECTABLE or
                               (g.user.can("leader") and Status(state["status"]) in workflow.CORRECTABLE)),
                           overdue_now=workflow.iso(g.now) > (state["due_at"] or "9") and
                           Status(state["status"]) in (Status.RECEIVED, Status.PROCESSING, Status.FEE_REQUESTED),
                           error=None)


@bp.route("/ho-so/<code>/thao-tac/<action>", methods=("POST",))
@login_required(roles=("clerk", "leader"))
def act(code, action):
    if action not in workflow.ACTIONS:
        abort(404)
    _load(code)
    params = request.form.to_dict()
    if action == "hand_up" and not (params.get("to_unit") or "").strip():
        params["to_unit"] = current_app.config["MOTCUA"]["parent_name"]  # the real agency, never "Cấp trên"
    try:
        state = store.act(store_context(), code, action, params)
    except workflow.WorkflowError as exc:
        flash("Không thực hiện được: " + exc.message)
        return redirect(url_for("desk.dossier", code=code)), 303
    except store.NotHolder:
        flash("Hồ sơ đang do cấp trên xử lý; bộ phận một cửa chưa thể thay đổi.")
        return redirect(url_for("desk.dossier", code=code)), 303
    flash(f"Đã cập nhật hồ sơ {code}: {workflow.ACTIONS[action][1]} — trạng thái “{label(state['status'])}”.")
    return redirect(url_for("desk.dossier", code=code)), 303


def _documents_text(documents) -> str:
    kinds = {"original": "bản chính", "copy": "bản sao"}
    return "\n".join(f"{d['name']}; {kinds.get(d['kind'], d['kind'])}; {d['count']}" for d in documents)


def _documents_from_text(text: str) -> list[dict]:
    kinds = {"ban chinh": "original", "ban sao": "copy", "original": "original", "copy": "copy"}
    docs = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(";")]
        kind = kinds.get(fold(parts[1]) if len(parts) > 1 else "ban chinh", parts[1] if len(parts) > 1 else "")
        docs.append({"name": parts[0], "kind": kind, "count": parts[2] if len(parts) > 2 else "1"})
    return docs


@bp.route("/ho-so/<code>/dinh-chinh", methods=("GET", "POST"))
@login_required(roles=("clerk", "leader"))
def correct(code):
    """Correct an intake mistake (issue 12.3): an audited dossier.corrected event with its reason."""
    state = _load(code)
    conn = get_db()
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        params = {"reason": form.get("reason", ""), "procedure": form.get("procedure", ""),
                  "applicant": {k: form.get(k, "") for k in APPLICANT_FIELDS},
                  "documents": _documents_from_text(form.get("documents", ""))}
        if state.get("representative"):
            params["representative"] = state["representative"]
        try:
            store.correct(store_context(), code, params, role=g.user.role)
        except workflow.WorkflowError as exc:
            for e in exc.errors:
                key = e.field.split(".")[0]
                errors[key] = f"{errors[key]} {e.message}" if key in errors else e.message
        except store.NotHolder:
            flash("Hồ sơ đang do cấp trên xử lý; bộ phận một cửa chưa thể thay đổi.")
            return redirect(url_for("desk.dossier", code=code)), 303
        else:
            flash(f"Đã đính chính hồ sơ {code}. Hãy in lại giấy tiếp nhận (bản in lại thay thế bản cũ).")
            return redirect(url_for("desk.dossier", code=code)), 303
    store.log_access(conn, g.user.username, code, "view_correct", g.now)
    applicant = state["applicant"]
    birth = applicant.get("birth_date") or ""
    values = dict(applicant, birth_date=f"{birth[8:10]}/{birth[5:7]}/{birth[:4]}" if birth else "")
    return render_template("desk/correct.html", d=state, errors=errors, form=form,
                           procedures=reference.procedures(conn), applicant_values=values,
                           documents_text=_documents_text(state["documents"])), (400 if errors else 200)


PAGE_SIZE = 50
EXPORT_MAX = 20000


def _day_arg(name: str) -> tuple[str | None, str | None]:
    """(ISO date, raw) from a dd/mm/yyyy (or ISO) query argument; ISO None when absent or bad."""
    from domain.citizen import parse_birth_date
    raw = (request.args.get(name) or "").strip()
    return (parse_birth_date(raw) or None) if raw else None, raw


def _list_query(kind: str | None) -> tuple[store.ListQuery, dict, list[str]]:
    args = request.args
    problems = []
    date_from, raw_from = _day_arg("tu")
    date_to, raw_to = _day_arg("den")
    if raw_from and not date_from:
        problems.append("Ngày “từ” không hợp lệ (nhập ngày/tháng/năm).")
    if raw_to and not date_to:
        problems.append("Ngày “đến” không hợp lệ (nhập ngày/tháng/năm).")
    status = args.get("trang-thai", type=int)
    if status is not None and status not in {int(s) for s in Status}:
        status = None
    q = store.ListQuery(kind=kind, status=status, handler=args.get("can-bo") or None,
                        procedure=args.get("thu-tuc") or None, field=args.get("linh-vuc") or None,
                        channel=args.get("kenh") or None, date_from=date_from, date_to=date_to,
                        sort=args.get("sap-xep") if args.get("sap-xep") in store.SORTS else (
                            "han-tra" if kind in ("sap-den-han", "qua-han", "den-han-hom-nay") else "moi-nhat"))
    raw = {"tu": raw_from, "den": raw_to}
    return q, raw, problems


def _list_page(kind: str | None, title: str):
    conn = get_db()
    q, raw, problems = _list_query(kind)
    calendar = _calendar()
    export = request.args.get("xuat")
    if export in ("csv", "xlsx") and not problems:
        rows, total = store.find(conn, q, g.now, calendar, limit=EXPORT_MAX)
        store.log_access(conn, g.user.username, "*list*", f"export_{export}:{len(rows)}", g.now)
        name = f"danh-sach-ho-so-{g.now:%Y%m%d-%H%M}.{export}"
        if export == "csv":
            body, mime = list_export.to_csv(rows, g.now), "text/csv; charset=utf-8"
        else:
            body = list_export.to_xlsx(rows, g.now, title, current_app.config["MOTCUA"]["agency_name"])
            mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return current_app.response_class(body, mimetype=mime, headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
    page = max(1, request.args.get("trang", 1, type=int) or 1)
    rows, total = store.find(conn, q, g.now, calendar, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    args = {k: v for k, v in request.args.items() if k not in ("trang", "xuat")}
    return render_template("desk/list.html", rows=rows, title=title, total=total, page=page, pages=pages,
                           args=args, kind=kind, q=q, raw=raw, problems=problems, statuses=LABELS,
                           handlers=store.handlers(conn), procedures=reference.procedures(conn),
                           fields=store.list_fields(conn), channels=workflow.CHANNELS,
                           days_overdue=lambda r: list_export.days_overdue(r, g.now),
                           list_url=lambda **over: url_for(request.endpoint, **(request.view_args or {}),
                                                           **{**args, **over})), (400 if problems else 200)


@bp.route("/danh-sach")
@login_required
def lists():
    status = request.args.get("trang-thai", type=int)
    handler = request.args.get("can-bo")
    if status in {int(s) for s in Status}:
        title = f"Hồ sơ “{label(status)}”"
    elif handler:
        title = f"Hồ sơ do {handler} xử lý"
    else:
        title = "Danh sách hồ sơ"
    return _list_page(None, title)


@bp.route("/danh-sach/<kind>")
@login_required
def list_view(kind):
    if kind not in store.LIST_KINDS:
        abort(404)
    return _list_page(kind, store.LIST_KINDS[kind])


@bp.route("/trang-thai")
@login_required
def status_bar():
    """The status bar alone: app.js fetches it every STATUS_REFRESH_SECONDS (30 s) so the bar refreshes itself."""
    return render_template("_status_bar.html"), 200, {"Cache-Control": "no-store"}


@bp.route("/tim-kiem")
@login_required
def search():
    query = request.args.get("q", "").strip()
    conn = get_db()
    rows = store.search(conn, query) if query else []
    if query:
        # whoever searches by ID number or phone sees personal data: log it, hits or not (issue 8.12)
        store.log_accesses(conn, g.user.username, [r["code"] for r in rows],
                           f"search_{store.search_kind(query)}", g.now)
    return render_template("desk/list.html", rows=rows, query=query,
                           title=f"Kết quả tìm “{query}”" if query else "Tìm kiếm hồ sơ")
