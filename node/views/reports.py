"""The commune's own report: the II.06a figures per field, the on-time rate and counter ratings.

The figures come from ``domain.reports`` (the SQL path, proved equal to the Python definition),
the same code central uses, so the commune and the upper level never disagree about the same
dossiers. Exports (XLSX, CSV) use ``domain.exports`` like central's.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request

from appshell import accounts
from appshell.web_auth import login_required
from domain import exports, reports
from domain.text import fold
from domain.workflow import RATINGS

from ..db import get_db

bp = Blueprint("reports", __name__)


def _period():
    """(Period, error message or None) from ?from=&to= (YYYY-MM-DD); default: this month so far."""
    try:
        return reports.parse_period(request.args.get("from"), request.args.get("to"), g.now.date()), None
    except ValueError as exc:
        return reports.parse_period(None, None, g.now.date()), str(exc)


def _names() -> dict:
    settings = current_app.config["MOTCUA"]
    return {settings["agency_code"]: settings["agency_name"]}


def _fields(conn) -> list[str]:
    return sorted((r[0] for r in conn.execute("SELECT DISTINCT field FROM dossiers")),
                  key=lambda f: (fold(f), f))


def _document(period, field: str | None) -> dict:
    filters = {"field": field} if field else None
    return reports.report(get_db(), period, g.now, filters=filters, names={"agency": _names()})


@bp.route("/bao-cao")
@login_required
def index():
    conn = get_db()
    period, error = _period()
    field = request.args.get("linh-vuc") or None
    filters = {"field": field} if field else None
    table = reports.figures_sql(conn, period.start, period.end, g.now, filters=filters)
    rating = reports.ratings_sql(conn, period.start, period.end, filters=filters)
    return render_template("reports/index.html", period=period, error=error, field=field, fields=_fields(conn),
                           table=table, total=table.total, ratings=rating,
                           rows=exports.rows(table, _names()), groups=exports.II06A_GROUPS,
                           columns=exports.II06A_COLUMNS, value=exports.value,
                           rating_labels=RATINGS), (400 if error else 200)


@bp.route("/bao-cao.json")
@login_required
def as_json():
    period, error = _period()
    if error:
        return jsonify({"error": {"code": "bad_request", "message": error}}), 400
    return jsonify(_document(period, request.args.get("linh-vuc") or None))


@bp.route("/bao-cao/ii06a.<ext>")
@login_required
def export(ext):
    if ext not in exports.FORMATS:
        return render_template("error.html", title="Không tìm thấy", message="Định dạng không hỗ trợ."), 404
    period, error = _period()
    if error:
        return render_template("error.html", title="Kỳ báo cáo không hợp lệ", message=error), 400
    field = request.args.get("linh-vuc") or None
    table = reports.figures_sql(get_db(), period.start, period.end, g.now,
                                filters={"field": field} if field else None)
    settings = current_app.config["MOTCUA"]
    body, mime, name = exports.export_file(ext, table, _names(), issuer=settings["agency_name"],
                                           generated_at=g.now.isoformat(), scope=settings["agency_code"])
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                  "Cache-Control": "no-store"})


@bp.route("/api/v1/reports/ii06a")
def api_ii06a():
    """The same JSON for scripts and tests, with a Bearer token (motcua-node token create USER)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or accounts.user_for_token(get_db(), token.strip()) is None:
        return jsonify({"error": {"code": "unauthorized",
                                  "message": "Send 'Authorization: Bearer <token>' "
                                             "(motcua-node token create USER)."}}), 401
    period, error = _period()
    if error:
        return jsonify({"error": {"code": "bad_request", "message": error}}), 400
    return jsonify(_document(period, request.args.get("field") or None))
