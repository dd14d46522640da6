"""Printable forms 01–07 of Circular 03/2025/TT-VPCP, annex I: HTML pages with A4 print CSS.

Every view is for logged-in staff only and writes one access_log row, because these pages
show a citizen's full personal data (the desk screens mask it).
"""
from __future__ import annotations

import calendar as _calendar
import json
import re
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, current_app, g, render_template, request
from markupsafe import Markup

from appshell.web_auth import login_required
from domain.control_sheet import Names, control_rows

from .. import events, store
from ..db import get_db
from ..qr import lookup_url, node_key, paper_text, qr_svg

bp = Blueprint("forms", __name__, url_prefix="/bieu-mau")

DESK = "Bộ phận Một cửa"
MAX_REGISTER_DAYS = 366

FORM_TITLES = {
    "01": "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    "02": "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    "03": "Phiếu từ chối tiếp nhận, giải quyết hồ sơ",
    "04": "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết",
    "05": "Thông báo dừng giải quyết hồ sơ",
    "06": "Phiếu kiểm soát quá trình giải quyết hồ sơ",
    "07": "Sổ theo dõi hồ sơ",
}

# Why a form cannot be printed for a dossier that lacks the matching action.
NOT_APPLICABLE = {
    "02": "Hồ sơ này chưa có yêu cầu bổ sung, hoàn thiện nào nên không có Phiếu yêu cầu bổ sung (mẫu 02). "
          "Hãy ghi nhận yêu cầu bổ sung trên trang hồ sơ trước khi in.",
    "03": "Hồ sơ này không bị từ chối tiếp nhận, giải quyết nên không có Phiếu từ chối (mẫu 03).",
    "04": "Hồ sơ này chưa được gia hạn nên không có Văn bản xin lỗi và đề nghị gia hạn (mẫu 04). "
          "Hãy ghi nhận việc xin lỗi và gia hạn trên trang hồ sơ (trước thời hạn trả kết quả) trước khi in.",
    "05": "Hồ sơ này không có yêu cầu rút hồ sơ hay quyết định dừng giải quyết nên không có "
          "Thông báo dừng giải quyết (mẫu 05).",
}

_LIMIT_LABELS = {
    "working_days": "{n} ngày làm việc",
    "working_hours": "{n} giờ làm việc",
    "calendar_days": "{n} ngày",
}
_PLACE = re.compile(r"^(?:UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+(?:xã|phường|thị trấn|đặc khu)\s+(.+)$",
                    re.IGNORECASE)


# --- small helpers shared by the templates -----------------------------------------------------

def limit_label(value, unit) -> str:
    """The processing time in words: "5 ngày làm việc", "Trong ngày", "8 giờ làm việc"."""
    if unit == "same_day":
        return "Trong ngày"
    template = _LIMIT_LABELS.get(unit)
    if template is None or value in (None, ""):
        return ""
    return template.format(n=value)


def place_name(agency_name: str) -> str:
    """The place on the date line: "UBND xã Hòa Bình" -> "Hòa Bình"; unknown shapes give a blank to fill."""
    match = _PLACE.match((agency_name or "").strip())
    return match.group(1).strip() if match else "……………"


def date_words(value) -> str:
    """'ngày 05 tháng 01 năm 2026': day below 10 and months 1–2 padded with 0, as official documents write them."""
    if not value:
        return "ngày …… tháng …… năm ………"
    d = value if isinstance(value, (date, datetime)) else datetime.fromisoformat(value)
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    return f"ngày {d.day:02d} tháng {month} năm {d.year}"


FIRST_SHEET_DOCS = 8     # form 01 keeps one A4 sheet per copy up to this many document lines
MORE_SHEET_DOCS = 22     # each continuation sheet (code and signatures repeated)


def form_time(value) -> str:
    """'09 giờ 00 phút, ngày 05/01/2026': times as form 01 writes them."""
    if not value:
        return "….. giờ ….. phút, ngày ….. /….. /………"
    d = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return f"{d:%H} giờ {d:%M} phút, ngày {d:%d/%m/%Y}"


def document_sheets(documents: list, first: int = FIRST_SHEET_DOCS, more: int = MORE_SHEET_DOCS):
    """(lines on the first sheet, [{"start", "docs"} for each continuation sheet])."""
    head, rest = list(documents[:first]), list(documents[first:])
    chunks = [{"start": first + i, "docs": rest[i:i + more]} for i in range(0, len(rest), more)]
    return head, chunks


def _names(conn) -> dict[str, str]:
    """username -> full name; official papers never print a login, so a user without one prints blank."""
    return {r["username"]: (r["full_name"] or "") for r in conn.execute("SELECT username, full_name FROM users")}


def _paper_qr(document: int, state: dict | None, until=None) -> Markup:
    """The signed QR of Circular 01/2023, top-left of the paper (protocol/paper_qr.py)."""
    settings = current_app.config["MOTCUA"]
    key = current_app.extensions.get("motcua.node_key")
    if key is None:
        key = current_app.extensions["motcua.node_key"] = node_key(current_app.config["DATA_DIR"])
    text = paper_text(key, document=document, state=state, issuer=settings["agency_code"], issued_at=g.now,
                      until=datetime.fromisoformat(until) if isinstance(until, str) else until)
    svg = qr_svg(text, title="Mã QR xác thực văn bản")
    # the text rides along as data-qr: a scanner at the desk or a test reads it without decoding the image
    frame = '<div class="paper-qr" data-qr="{}" title="Mã QR xác thực văn bản (Thông tư 01/2023/TT-VPCP)">{}</div>'
    return Markup(frame).format(text, Markup(svg))


def _render(template: str, status: int = 200, **context):
    settings = current_app.config["MOTCUA"]
    context.setdefault("place", place_name(settings["agency_name"]))
    html = render_template(template, date_words=date_words, limit_label=limit_label, desk_name=DESK,
                           form_time=form_time,
                           form_titles=FORM_TITLES, **context)
    return html, status


# --- forms 01–06: one dossier ------------------------------------------------------------------

def _control_rows(state: dict, dossier_events: list[dict], names: dict[str, str]) -> list[dict]:
    """Form 06 rows, built by the pure domain.control_sheet.control_rows."""
    settings = current_app.config["MOTCUA"]
    return control_rows(state, dossier_events, Names(agency_code=state.get("agency") or settings["agency_code"],
                                                     agency_name=settings["agency_name"],
                                                     parent_name=settings["parent_name"], staff=names))


@bp.route("/<code>/<form_no>")
@login_required
def dossier_form(code: str, form_no: str):
    if form_no not in ("01", "02", "03", "04", "05", "06"):
        abort(404)
    conn = get_db()
    state = store.get(conn, code.strip().upper())
    if state is None:
        abort(404)
    code = state["code"]

    context = {"d": state, "form_no": form_no, "title": FORM_TITLES[form_no]}
    if form_no == "01":
        if not state.get("received_at"):
            return _render("forms/not_applicable.html", 409, **context, message=(
                "Hồ sơ đăng ký trực tuyến này chưa được tiếp nhận nên chưa có Giấy tiếp nhận và hẹn trả kết quả."))
        url = lookup_url(current_app.config["MOTCUA"]["public_url"], state["code"])
        first_docs, more_docs = document_sheets(state.get("documents") or [])
        corrections = state.get("corrections") or []
        context.update(lookup=url, qr=Markup(qr_svg(url)), clerk=_names(conn).get(state.get("received_by"), ""),
                       first_docs=first_docs, more_docs=more_docs, continued=bool(more_docs),
                       reprint=len(corrections), reprint_at=corrections[-1]["at"] if corrections else None)
    elif form_no == "02":
        if not state.get("supplements"):
            return _render("forms/not_applicable.html", 409, **context, message=NOT_APPLICABLE["02"])
        context["supplement"] = state["supplements"][-1]
        context["supplement_no"] = len(state["supplements"])
    elif form_no == "03":
        if not state.get("refusal"):
            return _render("forms/not_applicable.html", 409, **context, message=NOT_APPLICABLE["03"])
        context["refusal"] = state["refusal"]
    elif form_no == "04":
        if not state.get("extensions"):
            return _render("forms/not_applicable.html", 409, **context, message=NOT_APPLICABLE["04"])
        context["extension"] = state["extensions"][-1]
        context["first_due"] = state.get("original_due_at") or state["extensions"][0]["old_due"]
    elif form_no == "05":
        if not (state.get("stop") or state.get("withdrawal")):
            return _render("forms/not_applicable.html", 409, **context, message=NOT_APPLICABLE["05"])
        context["stop"] = state.get("stop")
        context["withdrawal"] = state.get("withdrawal")
    elif form_no == "06":
        names = _names(conn)
        context["rows"] = _control_rows(state, events.for_dossier(conn, code), names)
        context["clerk"] = names.get(state.get("received_by"), "")
        context["partners"] = list(dict.fromkeys(h["to_unit"] for h in state.get("handoffs") or []))

    context["paper_qr"] = _paper_qr(int(form_no), state, until=state.get("due_at") if form_no == "01" else None)
    store.log_access(conn, g.user.username, code, f"print_form_{form_no}", g.now)
    return _render(f"forms/form{form_no}.html", **context)


# --- form 07: the register ---------------------------------------------------------------------

def _parse_day(text: str | None) -> date | None:
    """dd/mm/yyyy as typed (whatever the browser's locale), or ISO yyyy-mm-dd from a link."""
    from domain.citizen import parse_birth_date
    value = parse_birth_date(text)
    return date.fromisoformat(value) if value else None


def _unit_name(unit: str) -> str:
    """The real agency's name on form 07: an old hand-up recorded "Cấp trên"; print the parent's name."""
    settings = current_app.config["MOTCUA"]
    return Names(settings["agency_code"], settings["agency_name"], settings["parent_name"], {}).unit(unit)


def _register_row(row, agency_name: str) -> dict:
    state = json.loads(row["doc"])
    handoffs = state.get("handoffs") or []
    applicant = state.get("applicant") or {}
    if handoffs:
        back = [h["returned_at"] for h in handoffs if h.get("returned_at")]
    else:
        back = [row["resolved_at"]] if row["resolved_at"] else []
    return {
        "code": row["code"],
        "register_no": state.get("register_no"),
        "procedure_name": row["procedure_name"],
        "applicant_name": row["applicant_name"],
        "address": applicant.get("address", ""),
        "phone": row["phone"],
        "lead": _unit_name(handoffs[-1]["to_unit"]) if handoffs else agency_name,
        "representative": state.get("representative"),
        "collected_by": state.get("collected_by"),
        "received_at": row["received_at"],
        "due_at": row["due_at"],
        "sent": [h["sent_at"] for h in handoffs],
        "back": back,
        "returned_at": row["returned_at"],
        "status": row["status"],
        "result_class": row["result_class"],
        "documents": sum(int(doc.get("count") or 1) for doc in state.get("documents") or []),
    }


@bp.route("/so-theo-doi")
@login_required
def register():
    today = g.now.date()
    first = today.replace(day=1)
    last = today.replace(day=_calendar.monthrange(today.year, today.month)[1])
    raw_from, raw_to = request.args.get("tu"), request.args.get("den")
    start = _parse_day(raw_from) if raw_from else first
    end = _parse_day(raw_to) if raw_to else last
    context = {"title": FORM_TITLES["07"], "form_no": "07", "tu": raw_from or f"{first:%d/%m/%Y}",
               "den": raw_to or f"{last:%d/%m/%Y}"}
    if start is None or end is None:
        return _render("forms/form07.html", 400, **context, rows=[], error=(
            "Ngày không hợp lệ. Nhập ngày theo dạng ngày/tháng/năm, ví dụ 05/01/2026."))
    if end < start:
        start, end = end, start
    if (end - start).days >= MAX_REGISTER_DAYS:
        return _render("forms/form07.html", 400, **context, rows=[], error=(
            f"Khoảng thời gian quá dài: mỗi lần in sổ tối đa {MAX_REGISTER_DAYS} ngày."))
    context.update(tu=f"{start:%d/%m/%Y}", den=f"{end:%d/%m/%Y}", start=start, end=end)

    conn = get_db()
    agency_name = current_app.config["MOTCUA"]["agency_name"]
    result = conn.execute(
        "SELECT code, procedure_name, applicant_name, phone, received_at, due_at, resolved_at, returned_at, "
        "status, result_class, doc FROM dossiers WHERE received_at >= ? AND received_at < ? "
        "ORDER BY substr(received_at, 1, 4), json_extract(doc, '$.register_no'), received_at, code",
        (f"{start.isoformat()}T00:00:00", f"{(end + timedelta(days=1)).isoformat()}T00:00:00"))
    rows = [_register_row(r, agency_name) for r in result]
    store.log_access(conn, g.user.username, "*register*", f"print_register:{start.isoformat()}..{end.isoformat()}",
                     g.now)
    return _render("forms/form07.html", **context, rows=rows, error=None, paper_qr=_paper_qr(7, None))

