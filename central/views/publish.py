"""Danh mục & lịch: admins edit the procedure catalogue and the holiday calendar as drafts, then publish."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from appshell.web_auth import admin_required, login_required
from domain import reports
from domain.calendar import DAY_KINDS
from domain.catalogue import DOCUMENT_KINDS, LIMIT_UNITS, parse_procedure
from domain.catalogue import fields as catalogue_fields

from ..db import get_db
from ..store import publishing

bp = Blueprint("publish", __name__, url_prefix="/xuat-ban")

KIND_LABELS = {"catalogue": "danh mục thủ tục", "calendar": "lịch ngày nghỉ"}
UNIT_LABELS = {"working_days": "ngày làm việc", "working_hours": "giờ làm việc", "calendar_days": "ngày (lịch)",
               "same_day": "trong ngày"}
DAY_KIND_LABELS = {"holiday": "Ngày lễ, Tết (nghỉ)", "substitute": "Ngày nghỉ bù (thứ Hai–thứ Sáu)",
                   "workday": "Ngày làm bù (thứ Bảy/Chủ nhật)"}
DOC_KIND_LABELS = {"original": "Bản chính", "copy": "Bản sao", "either": "Bản chính hoặc bản sao"}
assert set(UNIT_LABELS) == set(LIMIT_UNITS) and set(DAY_KIND_LABELS) == set(DAY_KINDS)
assert set(DOC_KIND_LABELS) == set(DOCUMENT_KINDS)


@bp.get("")
@login_required
def index():
    conn = get_db()
    catalogue = publishing.get(conn, "catalogue")
    calendar = publishing.get(conn, "calendar")
    procedures = [parse_procedure(p) for p in catalogue.body["procedures"]]
    return render_template("publish/index.html", catalogue=catalogue, calendar=calendar, procedures=procedures,
                           fields=catalogue_fields(procedures), catalogue_changes=publishing.changes(conn, "catalogue"),
                           calendar_changes=publishing.changes(conn, "calendar"), behind=publishing.nodes_behind(conn),
                           unit_labels=UNIT_LABELS, kind_labels=KIND_LABELS)


def _editor(procedure: dict | None, original_code: str | None, error=None, status=200):
    conn = get_db()
    draft = publishing.get(conn, "catalogue")
    existing = catalogue_fields(parse_procedure(p) for p in draft.body["procedures"])
    return render_template("publish/procedure.html", p=procedure, original_code=original_code, error=error,
                           fields=existing, units=UNIT_LABELS, doc_kinds=DOC_KIND_LABELS), status




@bp.route("/thu-tuc/moi", methods=("GET", "POST"))
@admin_required
def new_procedure():
    if request.method == "POST":
        return _save(None)
    blank = {"code": "", "name": "", "field": "", "limit": {"value": 5, "unit": "working_days"},
             "same_day_cutoff": None, "fee": 0, "fee_note": "", "documents": [], "handed_up": False, "result": ""}
    return _editor(blank, None)


@bp.route("/thu-tuc/<code>", methods=("GET", "POST"))
@admin_required
def edit_procedure(code):
    if request.method == "POST":
        return _save(code)
    draft = publishing.get(get_db(), "catalogue")
    found = next((p for p in draft.body["procedures"] if p["code"] == code), None)
    if found is None:
        abort(404)
    return _editor(found, code)


def _save(original_code):
    raw = publishing.procedure_from_form(request.form)
    try:
        procedure = publishing.save_procedure(get_db(), raw, original_code=original_code, actor=g.user.username,
                                              now=g.now)
    except publishing.DraftError as exc:
        return _editor(raw, original_code, exc, 400)
    flash(f"Đã lưu thủ tục {procedure.code} vào bản nháp. Bấm “Xuất bản” để gửi tới các xã.")
    return redirect(url_for("publish.index") + "#catalogue", 303)


@bp.post("/thu-tuc/<code>/xoa")
@admin_required
def remove_procedure(code):
    try:
        publishing.remove_procedure(get_db(), code, actor=g.user.username, now=g.now)
    except publishing.DraftError as exc:
        flash(exc.message)
    else:
        flash(f"Đã bỏ thủ tục {code} khỏi bản nháp.")
    return redirect(url_for("publish.index") + "#catalogue", 303)


@bp.get("/lich")
@login_required
def calendar():
    conn = get_db()
    draft = publishing.get(conn, "calendar")
    years = sorted({e["date"][:4] for e in draft.body["entries"]})
    return render_template("publish/calendar.html", draft=draft, years=years, day_kinds=DAY_KIND_LABELS,
                           changes=publishing.changes(conn, "calendar"), error=None, form={})


@bp.post("/lich")
@admin_required
def add_day():
    conn = get_db()
    try:
        try:  # typed dd/mm/yyyy in the box (issue 12.10); the draft stores ISO dates
            day = reports.parse_day(request.form.get("date", "")).isoformat()
        except ValueError as exc:
            raise publishing.DraftError(str(exc), field="date") from None
        publishing.add_calendar_entry(conn, {"date": day, "kind": request.form.get("kind", ""),
                                             "name": request.form.get("name", "")},
                                      actor=g.user.username, now=g.now)
    except publishing.DraftError as exc:
        draft = publishing.get(conn, "calendar")
        years = sorted({e["date"][:4] for e in draft.body["entries"]})
        return render_template("publish/calendar.html", draft=draft, years=years, day_kinds=DAY_KIND_LABELS,
                               changes=publishing.changes(conn, "calendar"), error=exc, form=request.form), 400
    flash(f"Đã thêm ngày {reports.parse_day(day):%d/%m/%Y} vào bản nháp lịch.")
    return redirect(url_for("publish.calendar"), 303)


@bp.post("/lich/<day>/xoa")
@admin_required
def remove_day(day):
    try:
        publishing.remove_calendar_entry(get_db(), day, actor=g.user.username, now=g.now)
    except publishing.DraftError as exc:
        flash(exc.message)
    else:
        flash(f"Đã bỏ ngày {day} khỏi bản nháp lịch.")
    return redirect(url_for("publish.calendar"), 303)


@bp.post("/<kind>/xuat-ban")
@admin_required
def publish(kind):
    if kind not in KIND_LABELS:
        abort(404)
    try:
        version, reached = publishing.publish(get_db(), kind, actor=g.user.username, now=g.now)
    except publishing.DraftError as exc:
        flash(exc.message)
    else:
        flash(f"Đã xuất bản {KIND_LABELS[kind]} phiên bản {version}; đã gửi vào luồng đồng bộ của {reached} đơn vị. "
              f"Mỗi xã áp dụng ở lần đồng bộ tới.")
    return redirect(url_for("publish.calendar") if kind == "calendar" and request.form.get("back") == "lich"
                    else url_for("publish.index"), 303)


@bp.post("/<kind>/huy")
@admin_required
def discard(kind):
    if kind not in KIND_LABELS:
        abort(404)
    publishing.discard(get_db(), kind)
    flash(f"Đã hủy bản nháp {KIND_LABELS[kind]}.")
    return redirect(url_for("publish.index"), 303)
