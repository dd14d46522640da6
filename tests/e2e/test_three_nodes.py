"""Issue acceptance, end to end: one central and three commune nodes as real processes on loopback.

Dossiers are received at each node (in person and by post), worked on (resolved, returned with a
rating, paused for a supplement, withdrawn), some handed up and resolved at central with
``motcua-central dossier hand-back``, one online dossier registered at central's API, handed down
and accepted by the clerk. Then central's overview, central's II.06a report and each node's own
report must give exactly the same figures for the same period. Finally a published catalogue
change (a procedure's time limit) reaches all three nodes, including one that was offline while
it was published, and changes the due times of new dossiers only.

The tests share one world (module scope) and run in file order, each building on the last.
"""
from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from domain.clock import local_now, today
from tests.conftest import wait_until
from tests.e2e.harness import APPLICANT, Central, Node, cli

# reports for Vietnam's today, from real servers
pytestmark = [pytest.mark.slow, pytest.mark.dates, pytest.mark.faketime_unsafe]

COMMUNES = [("000.00.06.H56", "hoabinh"), ("000.00.07.H56", "dongtien"), ("000.00.08.H56", "tanlap")]
MARRIAGE = "1.000894"   # Hộ tịch, 5 working days: nothing turns overdue while the test runs
LAND = "XA-DD-01"       # Đất đai, handed up to the upper level to resolve
ASSISTANCE = "1.001776"  # Bảo trợ xã hội, 22 working days


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_central_database):
    root = tmp_path_factory.mktemp("three")
    central = Central(root, database=module_central_database)  # on each engine (--central-db)
    nodes = []
    try:
        for agency, name in COMMUNES:
            node = Node(root, agency, name)
            code = central.add_node(agency, f"UBND xã {name}")  # the same name the node prints
            nodes.append(node)
            node._code = code
        central.start()
        admin_token = cli("central.cli", "token", "create", "--data", central.dir, "admin").stdout.strip()
        for node in nodes:
            node.enroll(central.url, node._code)
            node.start()
        yield central, nodes, admin_token
    finally:
        for node in nodes:
            node.stop()
        central.stop()


def intake(node: Node, procedure: str, channel: str = "in_person") -> dict:
    r = requests.post(node.url + "/api/v1/dossiers", headers={"Authorization": f"Bearer {node.token}"},
                      json={"procedure_code": procedure, "applicant": APPLICANT,
                            "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}],
                            "channel": channel, "return_method": "desk"}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def node_state(node: Node, code: str) -> dict | None:
    r = requests.get(f"{node.url}/api/v1/dossiers/{code}", headers={"Authorization": f"Bearer {node.token}"},
                     timeout=10)
    return r.json() if r.status_code == 200 else None


def synced(central: Central, node: Node) -> bool:
    return central.events(node.agency) == node.events()


def all_synced(central, nodes):
    wait_until(lambda: all(synced(central, n) for n in nodes if n.server and n.server.proc.poll() is None), 60,
               message="central has every node's events")


def test_dossiers_handed_up_are_resolved_at_central_and_the_nodes_apply_the_hand_back(world):
    central, nodes, _ = world
    for i, node in enumerate(nodes):
        codes = [intake(node, MARRIAGE)["code"] for _ in range(3 + i)]
        intake(node, ASSISTANCE, "post")
        node.act(codes[0], "start", handler="lan")
        node.act(codes[0], "resolve", result_note="Đã cấp giấy chứng nhận")
        node.act(codes[0], "return", rating=str(5 - i))
        node.act(codes[1], "start")
        node.act(codes[1], "supplement", items="Giấy xác nhận cư trú", reason="Thiếu giấy tờ")
        node.act(codes[2], "withdraw", reason="Công dân xin rút hồ sơ")
        node.act(codes[2], "stop")
    handed = {}
    for node in nodes[:2]:
        code = intake(node, LAND)["code"]
        node.act(code, "start")
        assert node.act(code, "hand_up", to_unit="UBND tỉnh Quảng Ninh")["holder"] == "central"
        handed[code] = node

    def held_by_central(code):
        conn = central.db()
        try:
            row = conn.execute("SELECT holder FROM dossiers WHERE code = ?", (code,)).fetchone()
            return row is not None and row[0] == "central"
        finally:
            conn.close()
    for code in handed:
        wait_until(lambda code=code: held_by_central(code), 30, message=f"central holds {code}")
        cli("central.cli", "dossier", "hand-back", "--data", central.dir, code, "--outcome", "resolve",
            "--result-note", "Đã cập nhật biến động")
    for code, node in handed.items():
        wait_until(lambda node=node, code=code: (node_state(node, code) or {}).get("holder") == "node", 30,
                   message=f"{node.agency} applied the hand-back of {code}")
        state = node_state(node, code)
        assert state["status"] == 9 and state["result_note"] == "Đã cập nhật biến động"
        assert state["result_class"] in ("early", "on_time")


def test_an_online_dossier_registered_at_central_is_handed_down_and_accepted(world):
    central, nodes, admin_token = world
    node = nodes[2]
    body = {"node": node.agency, "procedure_code": MARRIAGE, "applicant": APPLICANT,
            "documents": [{"name": "Tờ khai đăng ký kết hôn", "kind": "original", "count": 1}],
            "return_method": "desk"}
    r = requests.post(central.url + "/api/v1/online-dossiers", json=body,
                      headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    assert r.status_code == 201, r.text
    reply = r.json()
    code = reply.get("code") or reply.get("dossier", {}).get("code")
    assert code and code.startswith(node.agency) and code.endswith(tuple(f"-{n}" for n in range(9001, 10000)))
    wait_until(lambda: (node_state(node, code) or {}).get("status") == 1, 30, message="handed down to the node")
    accepted = node.act(code, "accept")
    assert accepted["status"] == 2 and accepted["channel"] == "online" and accepted["due_at"]


def figures_only(doc: dict) -> dict:
    """The report without the moment it was computed (each side answers at its own 'now')."""
    return {"key": doc["key"], "rows": doc["rows"], "total": doc["total"], "ratings": doc["ratings"],
            "period": {k: v for k, v in doc["period"].items() if k != "as_of"}}


def test_the_overview_the_ii06a_report_and_each_nodes_report_agree_exactly(world):
    central, nodes, admin_token = world
    all_synced(central, nodes)
    day = today().isoformat()  # Vietnam's date, as the dossiers carry it, whatever the machine's zone
    period = {"from": day, "to": day}
    central_auth = {"Authorization": f"Bearer {admin_token}"}
    whole = requests.get(central.url + "/api/v1/reports/ii06a", params=period, headers=central_auth, timeout=30)
    assert whole.status_code == 200, whole.text
    whole = whole.json()
    assert {r["agency"] for r in whole["rows"]} == {agency for agency, _ in COMMUNES}
    totals = []
    for node in nodes:
        own = requests.get(node.url + "/api/v1/reports/ii06a", params=period,
                           headers={"Authorization": f"Bearer {node.token}"}, timeout=30)
        assert own.status_code == 200, own.text
        at_central = requests.get(central.url + "/api/v1/reports/ii06a", params=dict(period, agency=node.agency),
                                  headers=central_auth, timeout=30).json()
        assert figures_only(own.json()) == figures_only(at_central), node.agency
        assert [r for r in whole["rows"] if r["agency"] == node.agency] == own.json()["rows"]
        totals.append(own.json()["total"])
    hoabinh = totals[0]
    assert hoabinh["received_in_person"] == 4 and hoabinh["received_post"] == 1  # 3 marriages + 1 land, 1 post
    assert (hoabinh["resolved"], hoabinh["paused"], hoabinh["withdrawn"]) == (2, 1, 1)
    assert whole["total"]["received"] == sum(t["received"] for t in totals)
    assert whole["total"]["resolved"] == 5 and whole["ratings"]["counts"] == {"5": 1, "4": 1, "3": 1, "2": 0,
                                                                              "1": 0}
    overview = requests.get(central.url + "/api/v1/overview", params=period, headers=central_auth, timeout=30)
    assert overview.status_code == 200, overview.text
    by_node = {n["id"]: n["figures"] for n in overview.json()["nodes"]}
    for node, total in zip(nodes, totals, strict=True):  # one total appended per node above
        assert by_node[node.agency] == total, node.agency
    assert overview.json()["total"] == whole["total"]


def catalogue_version(node: Node) -> int:
    conn = node.db()
    try:
        return conn.execute("SELECT version FROM reference_versions WHERE kind = 'catalogue'").fetchone()[0]
    finally:
        conn.close()


def docs(node: Node) -> dict[str, dict]:
    conn = node.db()
    try:
        return {r["code"]: json.loads(r["doc"]) for r in conn.execute("SELECT code, doc FROM dossiers")}
    finally:
        conn.close()


def test_a_published_time_limit_reaches_every_node_and_changes_new_due_times_only(world):
    from central.feed import latest, publish
    central, nodes, _ = world
    all_synced(central, nodes)
    before = {node.agency: {code: d["due_at"] for code, d in docs(node).items()} for node in nodes}
    offline = nodes[2]
    offline.stop()  # this commune's PC is off while the province publishes
    if central.database:  # PostgreSQL: central's own connection adapter
        conn = central.db()
    else:
        conn = sqlite3.connect(central.dir / "motcua-central.db", timeout=15, isolation_level=None)
        conn.row_factory = sqlite3.Row
    try:
        version, body = latest(conn, "catalogue")
        for p in body["procedures"]:
            if p["code"] == MARRIAGE:
                assert p["limit"] == {"value": 5, "unit": "working_days"}
                p["limit"]["value"] = 10
        conn.execute("BEGIN IMMEDIATE")
        publish(conn, "catalogue", version + 1, body, now=local_now())
        conn.execute("COMMIT")
    finally:
        conn.close()
    for node in nodes[:2]:
        wait_until(lambda node=node: catalogue_version(node) == version + 1, 30,
                   message=f"{node.agency} installs v{version + 1}")
    assert catalogue_version(offline) == version
    offline.start()
    wait_until(lambda: catalogue_version(offline) == version + 1, 30, message="the offline node catches up")
    for node in nodes:
        old_marriage = next(d for d in docs(node).values() if d["procedure_code"] == MARRIAGE)
        new = intake(node, MARRIAGE)
        assert new["limit_value"] == 10 and new["catalogue_version"] == version + 1
        assert old_marriage["limit_value"] == 5
        assert new["due_at"] > old_marriage["due_at"]
        after = docs(node)
        assert {code: after[code]["due_at"] for code in before[node.agency]} == before[node.agency], \
            "a published time limit must not move the due times of dossiers already received"
