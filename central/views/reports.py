"""The periodic report in the shape of form II.06a, for every commune: page, XLSX, CSV and JSON.

The figures come from ``central.store.reports``: ``domain.reports``' definition, the same the
commune's own report page uses (and proved equal to the Python definition), so a commune and
central never disagree about the same dossiers. Grouped by ``agency`` (the commune's code; a
node's id is its agency code).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request

from appshell.web_auth import login_required
from domain import exports, reports
from domain.text import fold
from domain.workflow import RATINGS

from ..db import get_read_db
from ..store import reports as report_store
from . import api

bp = Blueprint("reports", __name__)



def _period(start_arg="from", end_arg="to"):
    """(Period, Vietnamese error or None); missing dates: this month so far."""
    try:
        return reports.parse_period(request.args.get(start_arg), request.args.get(end_arg), g.now.date()), None
    except ValueError as exc:
        return reports.parse_period(None, None, g.now.date()), str(exc)


def _filters(agency_arg: str, field_arg: str) -> dict:
    return {"agency": request.args.get(agency_arg) or None, "field": request.args.get(field_arg) or None}


@bp.route("/bao-cao")
@login_required
def index():
    conn = get_read_db()
    period, error = _period()
    filters = _filters("don-vi", "linh-vuc")
    table = report_store.figures(conn, period, g.now, filters=filters)
    names = report_store.commune_names(conn)
    return render_template(
        "reports/index.html", period=period, error=error, filters=filters, table=table, total=table.total,
        communes=sorted(names.items(), key=lambda kv: (fold(kv[1]), kv[0])), fields=report_store.fields(conn),
        rows=exports.rows(table, names), groups=exports.II06A_GROUPS, columns=exports.II06A_COLUMNS,
        value=exports.value, ratings=report_store.ratings(conn, period, filters=filters),
        rating_labels=RATINGS), (400 if error else 200)


@bp.route("/bao-cao/ii06a.<ext>")
@login_required
def export(ext):
    if ext not in exports.FORMATS:
        return render_template("error.html", title="Không tìm thấy", message="Định dạng không hỗ trợ."), 404
    period, error = _period()
    if error:
        return render_template("error.html", title="Kỳ báo cáo không hợp lệ", message=error), 400
    conn = get_read_db()
    filters = _filters("don-vi", "linh-vuc")
    table = report_store.figures(conn, period, g.now, filters=filters)
    names = report_store.commune_names(conn)
    body, mime, name = exports.export_file(ext, table, names, issuer=current_app.config["MOTCUA"]["name"],
                                           generated_at=g.now.isoformat(), scope=filters["agency"] or "")
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/api/v1/reports/ii06a")
def api_ii06a():
    """JSON: {"period", "key", "rows": [{agency, agency_name, field, <figures>}], "total", "ratings"}.

    Query: from, to (YYYY-MM-DD, both included; default this month so far), agency, field.
    Bearer token (motcua-central token create USER), any role.
    """
    refused = api.bearer_user()
    if refused is not None:
        return refused
    try:
        period = reports.parse_period(request.args.get("from"), request.args.get("to"), g.now.date())
    except ValueError as exc:
        return api.error("bad_request", f"Bad period: {exc}", 400)
    return jsonify(report_store.document(get_read_db(), period, g.now, filters=_filters("agency", "field")))
