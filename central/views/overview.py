"""The upper level's overview: one row per commune with its figures for a period and its sync health.

Figures come from ``central.store.reports`` (``domain.reports``' definitions, the same a commune's
own report uses, computed in one GROUP BY over indexed columns); sync health and the reference
versions each node applied come from ``central.store.nodes``.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, current_app, g, render_template, request

from appshell.web_auth import login_required
from domain import reports
from domain.catalogue import fields as catalogue_fields
from domain.catalogue import parse_procedure

from .. import feed
from ..clock import iso
from ..db import get_read_db
from ..store import nodes, publishing, replica
from ..store import reports as report_store

bp = Blueprint("overview", __name__)

KINDS = publishing.KINDS


def catalogue_field_names(conn) -> list[str]:
    latest = feed.latest(conn, "catalogue")
    if latest is None:
        return []
    return catalogue_fields(parse_procedure(p) for p in latest[1]["procedures"])


def _oldest_age(node: dict, now: datetime) -> int | None:
    """Seconds since the node's oldest unsent event, on central's clock (the node's own clock may be off)."""
    text = node["oldest_pending_at"]
    if not text or not node["pending_reported"]:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is not None:
        return None
    offset = node["clock_offset_seconds"] or 0
    return max(int((now - (at - timedelta(seconds=offset))).total_seconds()), 0)


def _since(text: str | None, now: datetime) -> int | None:
    if not text:
        return None
    return max(int((now - datetime.fromisoformat(text)).total_seconds()), 0)


def overview(conn, period: reports.Period, now: datetime, *, field: str = "", node: str = "",
             silent_after_hours: int = 24) -> dict:
    """Everything the overview page and GET /api/v1/overview show."""
    # Per commune: a node's id is its agency code, which every dossier it holds carries (online
    # dossiers are handed down with the commune's agency), so grouping by agency is grouping by node
    # and gives exactly the II.06a report's per-commune totals (and can read its covering index).
    table = report_store.figures(conn, period, now, key=("agency",),
                                 filters={"field": field or None, "agency": node or None})
    published = publishing.published_versions(conn)
    applied = nodes.applied_versions(conn)
    rows = []
    for item in nodes.listing(conn, now, silent_after_hours):
        if node and item["id"] != node:
            continue
        figures = table.groups.get((item["id"],), reports.Figures())
        versions = {}
        for kind in KINDS:
            have = applied.get(item["id"], {}).get(kind)
            queued = item[f"{kind}_version"]
            versions[kind] = {"applied": have, "queued": queued, "published": published[kind],
                              "behind": item["status"] == "active" and (
                                  queued < published[kind] or have is None or have < published[kind])}
        rows.append({
            "id": item["id"], "name": item["name"], "status": item["status"], "figures": figures,
            "sync": {"last_contact_at": item["last_contact_at"],
                     "silent_seconds": _since(item["last_contact_at"], now),
                     "silent": item["silent"], "pending_reported": item["pending_reported"],
                     "oldest_pending_at": item["oldest_pending_at"], "oldest_pending_age": _oldest_age(item, now),
                     "clock_offset_seconds": item["clock_offset_seconds"], "fingerprint": item["fingerprint"],
                     "forks": item["forks"], "anomalies": item["anomalies"], "head_seq": item["head_seq"]},
            "reference": versions,
        })
    digitisation = report_store.digitisation_rates(conn, period, field=field or None, node=node or None)
    return {"period": period, "as_of": period.as_of(now), "table": table, "rows": rows, "published": published,
            "total": table.total, "field": field, "node": node, "now": now, "digitisation": digitisation}


def overview_json(data: dict) -> dict:
    return {
        "period": data["period"].to_dict(data["now"]),
        "filters": {"field": data["field"] or None, "node": data["node"] or None},
        "published": data["published"],
        "nodes": [{"id": r["id"], "name": r["name"], "status": r["status"], "figures": r["figures"].as_dict(),
                   "sync": r["sync"], "reference": r["reference"]} for r in data["rows"]],
        "total": data["total"].as_dict(),
        "digitisation": [{"node": k[0] or None, "field": k[1] or None, **v.to_dict()}
                         for k, v in sorted(data["digitisation"].items())],
    }


def read_filters(args, now: datetime) -> tuple[reports.Period, str | None]:
    """The period from ?from=&to= (default: this month so far); a bad date gives the default and a message."""
    try:
        return reports.parse_period(args.get("from"), args.get("to"), now.date()), None
    except ValueError as exc:
        return reports.parse_period(None, None, now.date()), str(exc)


@bp.get("/")
@login_required
def index():
    conn = get_read_db()  # a streaming replica when read_database is set
    settings = current_app.config["MOTCUA"]
    period, error = read_filters(request.args, g.now)
    field = (request.args.get("field") or "").strip()
    node = (request.args.get("node") or "").strip()
    data = overview(conn, period, g.now, field=field, node=node, silent_after_hours=settings["silent_after_hours"])
    fields = catalogue_field_names(conn)
    if field and field not in fields:
        fields.append(field)
    communes = nodes.names(conn)
    lag = replica.lag(conn) if current_app.config.get("READ_DATABASE") else None
    return render_template("overview/index.html", data=data, error=error, fields=fields, communes=communes, replica=lag,
                           silent_after_hours=settings["silent_after_hours"], now=iso(g.now)), (400 if error else 200)


@bp.get("/so-hoa.csv")
@login_required
def digitisation_csv():
    """Digitisation rates per commune and field (issue 10), the period and filters of the overview."""
    from flask import Response
    conn = get_read_db()  # an export: a streaming replica when read_database is set
    period, error = read_filters(request.args, g.now)
    if error:
        return render_template("error.html", title="Kỳ báo cáo không hợp lệ", message=error), 400
    field = (request.args.get("field") or "").strip() or None
    node = (request.args.get("node") or "").strip() or None
    rates = report_store.digitisation_rates(conn, period, field=field, node=node)
    names = report_store.commune_names(conn)
    name = f"so-hoa-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return Response(reports.digitisation_csv(rates, names), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
