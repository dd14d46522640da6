"""Central's store layer (central/store/) on a real central database: what views, the JSON API and
the sync endpoints read and write goes through it, it returns plain Python values, and the SQL
that differs between engines is built in one place (central/store/dialect.py)."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from central.store import accounts, dialect, dossiers, nodes, publishing, queue, reports, search
from domain import workflow
from domain.reports import parse_period
from domain.text import fold
from tests.central.conftest import APPLICANT, OTHER_AGENCY, add_node

CENTRAL = Path(__file__).resolve().parents[2] / "central"
SQL = re.compile(r"\bexecute(many|script)?\(|\b(SELECT|INSERT|UPDATE|DELETE)\b")


def test_centrals_views_json_api_and_sync_endpoints_hold_no_sql():
    offenders = [f"{path.relative_to(CENTRAL.parent)}:{no}" for path in sorted((CENTRAL / "views").glob("*.py"))
                 for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if SQL.search(line)]
    assert offenders == []
    assert not (CENTRAL / "api.py").exists() and not (CENTRAL / "sync_views.py").exists()


def test_every_store_module_says_what_it_holds():
    for path in sorted((CENTRAL / "store").glob("*.py")):
        text = path.read_text(encoding="utf-8").lstrip()
        assert text.startswith('"""') and len(text.split('"""')[1].strip()) > 40, path.name


def handed_up(node, central) -> str:
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    node.act(code, workflow.hand_up, {"to_unit": "UBND tỉnh", "note": "Đất đai cấp tỉnh"})
    assert node.push(central).status_code == 200
    return code


def test_store_readers_return_plain_dicts_never_driver_rows(central, conn, node, clock):
    code = handed_up(node, central)
    dossiers.log_access(conn, "admin", [code], "web.view", clock.now)
    period = parse_period("2026-01-01", "2026-01-31", clock.now.date())
    waiting, _sent = queue.queue(conn)
    values = [dossiers.get(conn, code), *dossiers.history(conn, code), *dossiers.recent_accesses(conn, code),
              *waiting, *search.search(conn, code), nodes.get(conn, node.agency), *nodes.listing(conn, clock.now),
              *accounts.admins(conn), *nodes.pushed_events(conn, node.agency, 0, 10)]
    values += [row for rows in nodes.detail(conn, node.agency).values() for row in rows]
    assert values and all(type(v) is dict for v in values)
    assert all(type(v) is tuple for v in nodes.names(conn))
    assert reports.figures(conn, period, clock.now).total.received == 1
    assert reports.document(conn, period, clock.now)["rows"][0]["agency_name"] == "UBND xã Hòa Bình"


def test_a_dossier_is_read_with_its_node_and_logged_once_per_look(central, conn, node, clock):
    code = handed_up(node, central)
    found = dossiers.get(conn, code)
    assert (found["node"], found["node_name"], found["state"]["applicant"]["name"]) == (
        node.agency, "UBND xã Hòa Bình", APPLICANT["name"])
    assert dossiers.get(conn, code[:-4] + "9999") is None
    dossiers.log_access(conn, "admin", [code, code, code], "web.search", clock.now)
    clock.advance(minutes=1)
    dossiers.log_access(conn, "minh", [code], "api.view", clock.now)
    dossiers.log_access(conn, "minh", [], "api.search", clock.now)
    assert [(a["username"], a["action"]) for a in dossiers.recent_accesses(conn, code)] == [
        ("minh", "api.view"), ("admin", "web.search")]
    assert [(e["seq"], e["type"], e["signed_by"]) for e in dossiers.history(conn, code)] == [
        (e["seq"], e["type"], node.agency) for e in node.events if e["dossier"] == code]


def test_assigning_a_handed_up_dossier_replaces_the_earlier_assignment_and_can_be_undone(central, conn, node, clock):
    code = handed_up(node, central)
    queue.assign(conn, code, 0, "admin", by="admin", now=clock.now)
    clock.advance(hours=1)
    queue.assign(conn, code, 0, "thu", by="admin", now=clock.now)
    assert queue.assignment(conn, code, 0) == {"code": code, "handoff_no": 0, "username": "thu",
                                               "assigned_at": clock.now.isoformat(), "assigned_by": "admin"}
    waiting, sent = queue.queue(conn)
    assert [(r["code"], r["assignee"], r["handoff_note"]) for r in waiting] == [(code, "thu", "Đất đai cấp tỉnh")]
    assert sent == []
    queue.unassign(conn, code, 0)
    assert queue.assignment(conn, code, 0) is None


def test_node_names_list_every_node_or_only_active_ones_by_name(central, conn, node, clock):
    add_node(conn, clock, OTHER_AGENCY, "UBND xã An Bình")  # pending: enrolment code issued, never used
    assert nodes.names(conn) == [(OTHER_AGENCY, "UBND xã An Bình"), (node.agency, "UBND xã Hòa Bình")]
    assert nodes.names(conn, active_only=True) == [(node.agency, "UBND xã Hòa Bình")]


def test_what_a_node_pushed_is_read_back_in_order_after_a_seq(central, conn, node):
    for _ in range(3):
        node.receive()
    assert node.push(central).status_code == 200
    assert nodes.pushed_events(conn, node.agency, 1, 10) == node.events[1:]
    assert nodes.pushed_events(conn, node.agency, 0, 2) == node.events[:2]


def test_the_feed_head_a_node_applied_tells_which_reference_versions_it_runs(central, conn, node, clock):
    before = nodes.applied_versions(conn)[node.agency]
    assert before == {"feed_applied_seq": None, "catalogue": None, "calendar": None}
    head = len(central_feed(conn, node.agency))
    nodes.record_feed_applied(conn, node.agency, head)
    published = publishing.published_versions(conn)
    assert nodes.applied_versions(conn)[node.agency] == {"feed_applied_seq": head, **published}
    assert publishing.nodes_behind(conn) == {"catalogue": [], "calendar": []}
    version, reached = publishing.publish_body(conn, "calendar", publishing.published(conn, "calendar")[1],
                                               actor="admin", now=clock.now)
    assert (version, reached) == (published["calendar"] + 1, 1)
    assert publishing.nodes_behind(conn)["calendar"] == [
        {"id": node.agency, "name": "UBND xã Hòa Bình", "applied": published["calendar"]}]


def central_feed(conn, agency):
    from central import feed
    return feed.read_feed(conn, agency, 0, 1000)


# --- the dialect ------------------------------------------------------------------------------------

def test_an_upsert_updates_only_the_columns_it_names_and_keeps_the_others():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE drafts(kind TEXT PRIMARY KEY, base_version INTEGER, body TEXT)")
    sql = dialect.upsert("drafts", ("kind", "base_version", "body"), key=("kind",), update=("body",))
    db.execute(sql, ("catalogue", 1, "first"))
    db.execute(sql, ("catalogue", 2, "second"))
    every = dialect.upsert("drafts", ("kind", "base_version", "body"), key=("kind",))
    db.execute(every, ("calendar", 1, "a"))
    db.execute(every, ("calendar", 3, "b"))
    assert db.execute("SELECT * FROM drafts ORDER BY kind").fetchall() == [("calendar", 3, "b"),
                                                                            ("catalogue", 1, "second")]


def test_json_paths_reach_into_documents_and_the_last_element_of_an_array():
    db = sqlite3.connect(":memory:")
    doc = '{"data": {"version": 7}, "handoffs": [{"note": "a"}, {"note": "b"}]}'
    sql = (f"SELECT {dialect.json_value('doc', 'data.version')}, "
           f"{dialect.json_value('doc', 'handoffs' + dialect.LAST + '.note')}, "
           f"{dialect.json_length('doc', 'handoffs')}, "
           f"{dialect.json_length('doc', 'data')} FROM (SELECT ? AS doc)")
    assert db.execute(sql, (doc,)).fetchone() == (7, "b", 2, 0)


@pytest.mark.parametrize("build", [
    lambda: dialect.json_value("doc", "x') OR 1=1 --"),
    lambda: dialect.json_value("doc; DROP TABLE dossiers", "status"),
    lambda: dialect.upsert("drafts", ("kind", "body = 1 --"), key=("kind",)),
    lambda: dialect.use_index("dossiers_holder WHERE 1"),
])
def test_the_dialect_builds_sql_only_from_identifiers_and_paths_never_from_arbitrary_text(build):
    with pytest.raises(ValueError):
        build()


def test_a_name_query_keeps_words_only_and_matches_the_last_one_as_a_prefix():
    assert dialect.name_query("nguyen van d") == '"nguyen van d"*'
    assert dialect.name_query(fold('" Nguyễn OR * NEAR(')) == '"nguyen or near"*'
    assert dialect.name_query("!!!") is None
