"""The clerk's desk: overview, intake, a dossier's page and its actions, lists and search."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from domain import workflow
from domain.card import NotACard, parse_card
from domain.procedure_search import search_text
from domain.text import fold
from domain.catalogue import fields as catalogue_fields
from domain.statuses import LABELS, Status, label

from .. import events, reference, store
from ..db import get_db
from .auth import login_required
from .context import store_context

bp = Blueprint("desk", __name__)

LISTS = {
    "hom-nay": "Hồ sơ tiếp nhận hôm nay",
    "sap-den-han": "Hồ sơ đến hạn trong 2 ngày làm việc",
    "qua-han": "Hồ sơ quá hạn",
}


def _calendar():
    return current_app.extensions["motcua.calendar"].get(get_db())


@bp.route("/")
@login_required
def home():
    conn = get_db()
    return render_template(
        "desk/home.html",
        today=store.list_today(conn, g.now, limit=20),
        due_soon=store.list_due_soon(conn, g.now, _calendar(), limit=20),
        overdue_rows=store.list_overdue(conn, g.now, limit=20),
    )


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
        try:
            state = store.receive(store_context(), procedure_code=form.get("procedure", ""), applicant=applicant,
                                  documents=_documents_from_form(form), channel=form.get("channel", ""),
                                  return_method=form.get("return_method", ""), representative=representative)
        except workflow.WorkflowError as exc:
            for e in exc.errors:
                key = e.field.split(".")[0]
                errors[key] = f"{errors[key]} {e.message}" if key in errors else e.message
        else:
            current_app.logger.info("received dossier %s", state["code"])
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
        return jsonify({"error": {"code": "not_a_card",
                                  "message": "Không đọc được thông tin trên thẻ. Vui lòng quét lại hoặc nhập tay."}}), 400
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
    try:
        state = store.act(store_context(), code, action, request.form.to_dict())
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


@bp.route("/danh-sach")
@login_required
def lists():
    conn = get_db()
    status = request.args.get("trang-thai", type=int)
    handler = request.args.get("can-bo")
    rows, title = [], "Danh sách hồ sơ"
    if status in {int(s) for s in Status}:
        rows, title = store.list_by_status(conn, status), f"Hồ sơ “{label(status)}”"
    elif handler:
        rows, title = store.list_by_handler(conn, handler), f"Hồ sơ do {handler} xử lý"
    return render_template("desk/lists.html", rows=rows, title=title, statuses=LABELS,
                           handlers=store.handlers(conn), current_status=status, current_handler=handler)


@bp.route("/danh-sach/<kind>")
@login_required
def list_view(kind):
    conn = get_db()
    if kind == "hom-nay":
        rows = store.list_today(conn, g.now)
    elif kind == "sap-den-han":
        rows = store.list_due_soon(conn, g.now, _calendar())
    elif kind == "qua-han":
        rows = store.list_overdue(conn, g.now)
    else:
        abort(404)
    return render_template("desk/list.html", rows=rows, title=LISTS[kind])


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
