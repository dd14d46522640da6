"""Report queries: the II.06a figures and counter ratings over every commune's dossiers, the names
and fields the report pages offer, for the overview, the report pages, their exports and the API.

The figures are ``domain.reports``' SQL definitions (the same the commune's own report runs, proved
equal to the Python definition), read over central's ``dossiers`` table; a node's id is its agency
code, so grouping by agency is grouping by commune.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

from domain import reports
from domain.text import fold

from . import dialect


def figures(conn, period: reports.Period, now: datetime, *, key: Sequence[str] = reports.DEFAULT_KEY,
            filters: Mapping | None = None) -> reports.Table:
    return reports.figures_sql(conn, period.start, period.end, now, key=key, filters=filters)


def ratings(conn, period: reports.Period, *, filters: Mapping | None = None) -> reports.Ratings:
    return reports.ratings_sql(conn, period.start, period.end, filters=filters)


def digitisation_rates(conn, period: reports.Period, *, field: str | None = None, node: str | None = None) -> dict:
    """Digitisation rates per (commune, field) for the period (issue 10), optionally one field or commune."""
    return reports.digitisation_rates_sql(conn, period.start, period.end, filters={"field": field, "agency": node})


def document(conn, period: reports.Period, now: datetime, *, filters: Mapping | None = None) -> dict:
    """The report's JSON document (domain.reports.report) with every commune's name."""
    return reports.report(conn, period, now, filters=filters, names={"agency": commune_names(conn)})


def commune_names(conn) -> dict[str, str]:
    """node id (= agency code) -> the commune's name."""
    return {r["id"]: r["name"] for r in conn.execute("SELECT id, name FROM nodes")}


def fields(conn) -> list[str]:
    """The fields of the latest published catalogue, plus any field a dossier carries, in Vietnamese order."""
    found = {r[0] for r in conn.execute("SELECT DISTINCT field FROM dossiers")}
    row = conn.execute("SELECT body FROM reference WHERE kind = 'catalogue' ORDER BY version DESC LIMIT 1").fetchone()
    if row:
        found |= {p.get("field") for p in dialect.from_json(row["body"]).get("procedures", []) if p.get("field")}
    return sorted(found, key=lambda f: (fold(f), f))
