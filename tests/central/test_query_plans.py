"""Central's search, queue and report queries read dossiers through the index meant for each (SQLite's
query plans), so dropping the indexes no query reads (migration 0006) left every page on an index."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from central.store import dialect, queue, search
from central.store.backend import PgConnection
from domain import reports

NODE = "000.00.06.H56"
DROPPED = ("dossiers_name", "dossiers_due", "dossiers_status_due")


class Plans:
    """A connection that records the query plan of every statement a report function runs."""

    def __init__(self, conn):
        self.conn, self.plans = conn, []

    def execute(self, sql, *args):
        self.plans.append(" | ".join(r[3] for r in self.conn.execute("EXPLAIN QUERY PLAN " + sql, *args)))
        return self.conn.execute(sql, *args)


def plan(conn, sql, args=()) -> str:
    return " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))


def search_plan(conn, text: str, node: str | None = None) -> str:
    where, args = search._where(dialect.SQLITE, text, node, 50)
    if node:
        where, args = where + " AND node = ?", (*args, node)
    return plan(conn, f"SELECT code FROM dossiers WHERE {where} ORDER BY received_at DESC, code LIMIT ? OFFSET ?",
                (*args, 50, 0))


@pytest.fixture
def sqlite_conn(conn):
    if isinstance(conn, PgConnection):
        pytest.skip("SQLite query plans")
    return conn


def test_searches_read_dossiers_through_the_code_code_tail_id_phone_and_full_text_indexes(sqlite_conn):
    conn = sqlite_conn
    assert "USING INDEX sqlite_autoindex_dossiers_1 (code=?)" in search_plan(conn, f"{NODE}-260105-0001")
    assert "USING INDEX dossiers_code_tail" in search_plan(conn, "260105-0001")
    by_number = search_plan(conn, "0912345678")
    assert "dossiers_id_number (id_number=?)" in by_number and "dossiers_phone (phone=?)" in by_number
    assert "SCAN dossiers_fts VIRTUAL TABLE" in search_plan(conn, "nguyen van")
    assert "SCAN f VIRTUAL TABLE" in search_plan(conn, "nguyen van", NODE)
    for text in (f"{NODE}-260105-0001", "260105-0001", "0912345678", "1234", "nguyen van"):
        for node in (None, NODE):
            assert "SCAN dossiers " not in search_plan(conn, text, node) + " "


def test_the_queue_a_dossier_and_a_nodes_dossiers_are_read_through_their_indexes(sqlite_conn):
    conn = sqlite_conn
    assert "SEARCH d USING INDEX dossiers_holder (holder=?)" in plan(conn, queue.queue_sql(dialect.SQLITE))
    assert "USING INDEX sqlite_autoindex_dossiers_1 (code=?)" in plan(
        conn, "SELECT d.node, d.doc FROM dossiers d JOIN nodes n ON n.id = d.node WHERE d.code = ?", ("x",))
    assert "USING INDEX dossiers_node (node=?)" in plan(
        conn, "SELECT doc FROM dossiers WHERE node = ? AND doc LIKE '%\"attachments\"%'", (NODE,))


def test_reports_read_the_period_report_and_returned_indexes_and_none_of_the_dropped_ones(sqlite_conn):
    conn = sqlite_conn
    now = datetime(2026, 6, 15, 10, 0)
    month, year = Plans(conn), Plans(conn)
    reports.figures_sql(month, date(2026, 6, 1), date(2026, 6, 30), now)
    reports.ratings_sql(month, date(2026, 6, 1), date(2026, 6, 30))
    reports.figures_sql(year, date(2025, 1, 1), date(2025, 12, 31), now)
    reports.figures_sql(year, date(2025, 1, 1), date(2025, 12, 31), now, filters={"agency": NODE})
    assert any("COVERING INDEX dossiers_period_resolved" in p for p in month.plans)
    assert any("COVERING INDEX dossiers_returned" in p for p in month.plans)
    assert any("SCAN dossiers USING COVERING INDEX dossiers_report" in p for p in year.plans)
    assert any("COVERING INDEX dossiers_report (agency=?)" in p for p in year.plans)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not names & set(DROPPED)


def test_the_unread_dossier_indexes_are_gone_on_either_engine(conn):
    if isinstance(conn, PgConnection):
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'dossiers'").fetchall()
    else:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dossiers'").fetchall()
    names = {r[0] for r in rows}
    assert "dossiers_holder" in names and "dossiers_report" in names
    assert not names & set(DROPPED)
