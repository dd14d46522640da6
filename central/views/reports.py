"""The periodic report in the shape of form II.06a, for every commune: page, XLSX, CSV and JSON.

The figures come from ``domain.reports.figures_sql``: the same definition the commune's own
report page uses (and proved equal to the Python definition), so a commune and central never
disagree about the same dossiers. Grouped by ``agency`` (the commune's code; a node's id is
its agency code).
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request

from domain import exports, reports
from domain.text import fold
from domain.workflow import RATINGS

from .. import users
from ..db import get_db
from service.web_auth import login_required

bp = Blueprint("reports", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _period(start_arg="from", end_arg="to"):
    """(Period, Vietnamese error or None); missing dates: this month so far."""
    try:
        return reports.parse_period(request.args.get(start_arg), request.args.get(end_arg), g.now.date()), None
    except ValueError as exc:
        return reports.parse_period(None, None, g.now.date()), str(exc)


def commune_names(conn) -> dict[str, str]:
    return {r["id"]: r["name"] for r in conn.execute("SELECT id, name FROM nodes")}


def _fields(conn) -> list[str]:
    """The fields of the latest published catalogue, plus any field a dossier carries."""
    fields = {r[0] for r in conn.execute("SELECT DISTINCT field FROM dossiers")}
    row = conn.execute("SELECT body FROM reference WHERE kind = 'catalogue' ORDER BY version DESC LIMIT 1").fetchone()
    if row:
        fields |= {p.get("field") for p in json.loads(row["body"]).get("procedures", []) if p.get("field")}
    return sorted(fields, key=lambda f: (fold(f), f))


def _filters(agency_arg: str, field_arg: str) -> dict:
    return {"agency": request.args.get(agency_arg) or None, "field": request.args.get(field_arg) or None}


@bp.route("/bao-cao")
@login_required
def index():
    conn = get_db()
    period, error = _period()
    filters = _filters("don-vi", "linh-vuc")
    table = reports.figures_sql(conn, period.start, period.end, g.now, filters=filters)
    names = commune_names(conn)
    return render_template(
        "reports/index.html", period=period, error=error, filters=filters, table=table, total=table.total,
        communes=sorted(names.items(), key=lambda kv: (fold(kv[1]), kv[0])), fields=_fields(conn),
        rows=exports.rows(table, names), groups=exports.II06A_GROUPS, columns=exports.II06A_COLUMNS,
        value=exports.value, ratings=reports.ratings_sql(conn, period.start, period.end, filters=filters),
        rating_labels=RATINGS), (400 if error else 200)


@bp.route("/bao-cao/ii06a.<ext>")
@login_required
def export(ext):
    if ext not in ("xlsx", "csv"):
        return render_template("error.html", title="Không tìm thấy", message="Định dạng không hỗ trợ."), 404
    period, error = _period()
    if error:
        return render_template("error.html", title="Kỳ báo cáo không hợp lệ", message=error), 400
    conn = get_db()
    filters = _filters("don-vi", "linh-vuc")
    table = reports.figures_sql(conn, period.start, period.end, g.now, filters=filters)
    names = commune_names(conn)
    if ext == "csv":
        body, mime = exports.to_csv(table, names), "text/csv; charset=utf-8"
    else:
        body, mime = exports.to_xlsx(table, names, issuer=current_app.config["MOTCUA"]["name"],
                                     generated_at=g.now.isoformat()), XLSX
    name = exports.filename(table, ext, filters["agency"] or "")
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _api_error(code: str, message: str, status: int):
    from ..api import error
    return error(code, message, status)


@bp.route("/api/v1/reports/ii06a")
def api_ii06a():
    """JSON: {"period", "key", "rows": [{agency, agency_name, field, <figures>}], "total", "ratings"}.

    Query: from, to (YYYY-MM-DD, both included; default this month so far), agency, field.
    Bearer token (motcua-central token create USER), any role.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _api_error("unauthorized", "Send 'Authorization: Bearer <token>' (motcua-central token create USER).",
                          401)
    g.user = users.user_for_token(get_db(), token.strip())
    if g.user is None:
        return _api_error("unauthorized", "Unknown, revoked or disabled token.", 401)
    try:
        period = reports.parse_period(request.args.get("from"), request.args.get("to"), g.now.date())
    except ValueError as exc:
        return _api_error("bad_request", f"Bad period: {exc}", 400)
    conn = get_db()
    return jsonify(reports.report(conn, period, g.now, filters=_filters("agency", "field"),
                                  names={"agency": commune_names(conn)}))
