"""Report queries: the II.06a figures and counter ratings over every commune's dossiers, the names
and fields the report pages offer, for the overview, the report pages, their exports and the API.

The figures are ``domain.reports``' SQL definitions (the same the commune's own report runs, proved
equal to the Python definition), read over central's ``dossiers`` table; a node's id is its agency
code, so grouping by agency is grouping by commune. On PostgreSQL the same definition is written in
PostgreSQL's SQL (``PG_FIGURES_SQL``: jsonb for the document, ``motcua_epoch`` for SQLite's
``unixepoch``, no planner hints); tests/central/test_postgres_backend.py checks both engines give
equal tables for the same random dossiers.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from domain import reports
from domain.text import fold

from . import dialect


def figures(conn, period: reports.Period, now: datetime, *, key: Sequence[str] = reports.DEFAULT_KEY,
            filters: Mapping | None = None) -> reports.Table:
    if dialect.of(conn) is dialect.POSTGRES:
        return figures_pg(conn, period, now, key=key, filters=filters)
    return reports.figures_sql(conn, period.start, period.end, now, key=key, filters=filters)


# The twin of domain.reports._FIGURES_SQL, line for line (see the comments there for each figure).
PG_FIGURES_SQL = """
WITH raw AS (
    SELECT {keys_select}id, channel, received_at AS rec, due_at AS due, resolved_at AS res, result_class AS rc,
           supplement_count AS sc,
           CASE WHEN status IN (7, 8) THEN (
               SELECT x.doc::jsonb #>> '{{withdrawal,at}}' FROM dossiers AS x WHERE x.id = dossiers.id) END AS wd
    FROM dossiers
    WHERE received_at IS NOT NULL AND received_at < :end AND (resolved_at IS NULL OR resolved_at >= :start){filters}
), base AS (
    SELECT *, COALESCE(res, wd) AS fin FROM raw
), scoped AS (
    SELECT *,
           (fin IS NULL OR fin >= :end) AS pend,
           CASE WHEN (fin IS NULL OR fin >= :end) AND sc > 0 THEN (
               SELECT MAX(s.value ->> 'requested_at') FROM dossiers AS x,
                      jsonb_array_elements(CASE WHEN jsonb_typeof(x.doc::jsonb -> 'supplements') = 'array'
                                                THEN x.doc::jsonb -> 'supplements' ELSE '[]'::jsonb END) AS s
               WHERE x.id = base.id AND s.value ->> 'requested_at' < :end
                 AND (s.value ->> 'returned_at' IS NULL OR s.value ->> 'returned_at' >= :end)) END AS ps,
           (res IS NOT NULL AND res >= :start AND res < :end) AS rin
    FROM base
    WHERE fin IS NULL OR fin >= :start
)
SELECT {keys_group}
    SUM(CASE WHEN rec < :start THEN 1 ELSE 0 END) AS carried_over,
    SUM(CASE WHEN rec >= :start AND COALESCE(channel, '') NOT IN ('online', 'post') THEN 1 ELSE 0 END)
        AS received_in_person,
    SUM(CASE WHEN rec >= :start AND channel = 'online' THEN 1 ELSE 0 END) AS received_online,
    SUM(CASE WHEN rec >= :start AND channel = 'post' THEN 1 ELSE 0 END) AS received_post,
    SUM(CASE WHEN rin AND rc = 'early' THEN 1 ELSE 0 END) AS resolved_early,
    SUM(CASE WHEN rin AND (rc IS NULL OR rc NOT IN ('early', 'late')) THEN 1 ELSE 0 END) AS resolved_on_time,
    SUM(CASE WHEN rin AND rc = 'late' THEN 1 ELSE 0 END) AS resolved_late,
    SUM(CASE WHEN pend AND ps IS NULL AND NOT (due IS NOT NULL AND due < :as_of) THEN 1 ELSE 0 END)
        AS pending_within,
    SUM(CASE WHEN pend AND ps IS NULL AND due IS NOT NULL AND due < :as_of THEN 1 ELSE 0 END) AS pending_overdue,
    SUM(CASE WHEN ps IS NOT NULL THEN 1 ELSE 0 END) AS paused,
    SUM(CASE WHEN ps IS NOT NULL AND due IS NOT NULL AND due < ps THEN 1 ELSE 0 END) AS paused_late,
    SUM(CASE WHEN wd IS NOT NULL AND wd >= :start AND wd < :end THEN 1 ELSE 0 END) AS withdrawn,
    SUM(CASE WHEN rin THEN motcua_epoch(res) - motcua_epoch(rec) ELSE 0 END) AS processing_seconds,
    SUM(CASE WHEN sc > 1 AND (rin OR pend) AND (
             SELECT COUNT(*) FROM dossiers AS x,
                    jsonb_array_elements(CASE WHEN jsonb_typeof(x.doc::jsonb -> 'supplements') = 'array'
                                              THEN x.doc::jsonb -> 'supplements' ELSE '[]'::jsonb END) AS s
             WHERE x.id = scoped.id AND s.value ->> 'requested_at' < :end) > 1 THEN 1 ELSE 0 END)
        AS repeat_supplements
FROM scoped
{group_by}
"""


def figures_pg(conn, period: reports.Period, now: datetime, *, key: Sequence[str] = reports.DEFAULT_KEY,
               filters: Mapping | None = None) -> reports.Table:
    """``domain.reports.figures_sql`` computed by PostgreSQL (same arguments, same Table)."""
    key = tuple(key)
    reports._check_columns(key)
    where, params = reports._filters_sql(filters)
    sql = PG_FIGURES_SQL.format(filters=where, keys_select="".join(f"{k}, " for k in key),
                                keys_group="".join(f"{k}, " for k in key),
                                group_by=f"GROUP BY {', '.join(key)}" if key else "")
    params.update(start=period.start_iso, end=period.end_iso, as_of=period.as_of(now))
    groups: dict[tuple, reports.Figures] = {}
    for record in conn.execute(sql, params):
        record = tuple(record)
        values = record[len(key):]
        if values[0] is None:
            continue
        # PG_FIGURES_SQL selects exactly the Figures fields after the key columns
        groups[record[:len(key)]] = reports.Figures(**{n: int(v) for n, v in
                                                       zip(reports._FIGURE_NAMES, values, strict=True)})
    return reports._table(period, period.as_of(now), key, groups)


def ratings(conn, period: reports.Period, *, filters: Mapping | None = None) -> reports.Ratings:
    return reports.ratings_sql(conn, period.start, period.end, filters=filters)


def digitisation_rates(conn, period: reports.Period, *, field: str | None = None, node: str | None = None) -> dict:
    """Digitisation rates per (commune, field) for the period (issue 10), optionally one field or commune."""
    return reports.digitisation_rates_sql(conn, period.start, period.end, filters={"field": field, "agency": node})


def document(conn, period: reports.Period, now: datetime, *, filters: Mapping | None = None) -> dict:
    """The report's JSON document (domain.reports.report) with every commune's name."""
    if dialect.of(conn) is dialect.POSTGRES:
        out = figures(conn, period, now, filters=filters).to_dict({"agency": commune_names(conn)})
        out["ratings"] = ratings(conn, period, filters=filters).as_dict()
        return out
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
