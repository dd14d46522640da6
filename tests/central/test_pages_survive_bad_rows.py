"""Central's pages render whatever a node sent (issue 8.3).

Central validates events before materialising them, but rows that got in before (or through a
bug) must never turn a dossier's page, a search, the queue or a report into a 500. These tests
write such rows straight into a real central database file, as a bad node or an old release
could have left them, and read every page that shows them: 200, the odd value shown as it is,
no stack trace.
"""
from __future__ import annotations

import json

import pytest

from central.ingest import index_names
from domain import workflow
from tests.central.conftest import APPLICANT, CENTRAL_ADMIN_PASSWORD

BAD_TIME = "hôm qua lúc 9 giờ"


@pytest.fixture
def staff(central_app):
    central_app.config["WTF_CSRF_ENABLED"] = False
    client = central_app.test_client()
    response = client.post("/dang-nhap", data={"username": "admin", "password": CENTRAL_ADMIN_PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def bearer(conn, clock) -> dict:
    from appshell import accounts
    from central import roles
    value = accounts.create_token(conn, accounts.by_name(conn, "admin"), "test", clock.now, prefix=roles.TOKEN_PREFIX)
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def real_code(central, node):
    """One dossier a node really handed up (central holds it), pushed and materialised."""
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    node.act(code, workflow.hand_up, {"to_unit": "UBND tỉnh", "note": "Đất đai cấp tỉnh"})
    assert node.push(central).status_code == 200
    return code


def plant(central_app, source: str, code: str, *, columns: dict, doc: dict, event: dict | None = None) -> bool:
    """Copy dossier ``source`` as ``code`` with ``columns`` and ``doc`` changed, straight into the database.

    False when the engine's schema refuses such a row (PostgreSQL's typed columns: no page can see it)."""
    from central.db import DB_ERRORS, connect
    db = connect(central_app.config["DATABASE"])
    try:
        db.execute("BEGIN IMMEDIATE")
        row = dict(db.execute("SELECT * FROM dossiers WHERE code = ?", (source,)).fetchone())
        state = json.loads(row["doc"])
        state.update(doc, code=code)
        row.update(columns, code=code, doc=json.dumps(state, ensure_ascii=False))
        del row["id"]
        sqlite = getattr(db, "dialect", "") != "postgresql"
        top = db.execute("SELECT max(id) FROM dossiers").fetchone()[0]
        try:
            db.execute(f"INSERT INTO dossiers({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       tuple(row.values()))
            if sqlite:  # as central's ingest does (its SQLite schema has no insert trigger for names)
                index_names(db, top)
        except DB_ERRORS:
            if sqlite:
                raise
            db.execute("ROLLBACK")
            return False
        if event is not None:
            last = db.execute("SELECT node, seq, batch_id FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            body = {"node": last["node"], "seq": last["seq"] + 1, "dossier": code, "actor": "lan", **event}
            db.execute("INSERT INTO events(node, seq, id, hash, body, batch_id, received_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (last["node"], last["seq"] + 1, f"planted-{code}", "0" * 64,
                        json.dumps(body, ensure_ascii=False), last["batch_id"], BAD_TIME))
        db.execute("COMMIT")
        return True
    finally:
        db.close()


BAD_ROWS = {
    "an unknown status number": dict(
        columns={"status": 99}, doc={"status": 99},
        event={"type": "dossier.transitioned", "at": "2026-01-05T09:00:00", "data": {"from": 2, "to": 99}}),
    "a status that is not a number": dict(
        columns={"status": "đang xem"}, doc={"status": "đang xem"},
        event={"type": "dossier.transitioned", "at": "2026-01-05T09:00:00", "data": {"from": 2, "to": "đang xem"}}),
    "times that do not parse": dict(
        columns={"received_at": BAD_TIME, "due_at": "2026-13-45T99:00:00", "updated_at": BAD_TIME},
        doc={"received_at": BAD_TIME, "due_at": "2026-13-45T99:00:00", "original_due_at": "ngày mai",
             "resolved_at": "sáng nay", "returned_at": "x"},
        event={"type": "dossier.note_added", "at": BAD_TIME, "data": {"note": "giờ sai"}}),
    "a rating and an amount that are not numbers": dict(
        columns={"rating": "tốt"}, doc={"rating": "tốt", "fee": "nhiều", "catalogue_version": "mới"}),
    "parts of the wrong shape": dict(
        columns={}, doc={"applicant": "Nguyễn Văn Dũng", "documents": "tờ khai", "handoffs": {"sent_at": 1},
                         "withdrawal": [], "holder": "central"}),
    "hand-ups with bad times and values": dict(
        columns={"holder": "central"},
        doc={"holder": "central", "handoffs": [{"sent_at": BAD_TIME, "upper": True, "returned_at": None,
                                                "result_class": 7, "giver": None}, "not a hand-up"]}),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_dossier_page_shows_whatever_a_node_sent_without_failing(central_app, staff, real_code, case):
    code = real_code[:-4] + "8888"
    if not plant(central_app, real_code, code, **BAD_ROWS[case]):
        pytest.skip("PostgreSQL's typed columns refuse such a row: no page can meet it there")
    response = staff.get(f"/ho-so/{code}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert code in page and "Traceback" not in page
    for shown in (str(BAD_ROWS[case]["doc"].get("status", "")), BAD_ROWS[case]["doc"].get("received_at", "")):
        assert shown in page  # an odd value is shown as it is, not hidden


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_every_search_lists_a_dossier_whatever_a_node_sent(central_app, staff, bearer, real_code, case):
    code = real_code[:-4] + "8888"
    if not plant(central_app, real_code, code, **BAD_ROWS[case]):
        pytest.skip("PostgreSQL's typed columns refuse such a row: no page can meet it there")
    for q in (code, code[-11:], APPLICANT["id_number"], APPLICANT["phone"], "nguyen van dung"):
        response = staff.get("/ho-so", query_string={"q": q})
        page = response.get_data(as_text=True)
        assert response.status_code == 200, (q, page)
        assert code in page, q
        api = central_app.test_client().get("/api/v1/dossiers", query_string={"q": q}, headers=bearer)
        assert api.status_code == 200 and code in [d["code"] for d in api.get_json()["dossiers"]], q
    one = central_app.test_client().get(f"/api/v1/dossiers/{code}", headers=bearer)
    assert one.status_code == 200 and one.get_json()["dossier"]["code"] == code


def test_the_overview_queue_reports_and_node_pages_survive_every_bad_row_at_once(central_app, staff, real_code, node):
    for number, case in enumerate(sorted(BAD_ROWS)):
        plant(central_app, real_code, real_code[:-4] + f"88{number:02d}", **BAD_ROWS[case])
    from appshell.sqlite import write_tx
    from central.db import connect
    db = connect(central_app.config["DATABASE"])
    with write_tx(db):  # what the node said about its queue, as it said it
        db.execute("UPDATE nodes SET pending_reported = 3, oldest_pending_at = ? WHERE id = ?", (BAD_TIME, node.agency))
    db.close()
    for path in ("/", "/lien-thong", "/bao-cao", "/bao-cao/ii06a.csv", "/bao-cao/ii06a.xlsx", "/don-vi",
                 f"/don-vi/{node.agency}", "/truc-tuyen", "/xuat-ban"):
        response = staff.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:2000])
        assert b"Traceback" not in response.data
    assert BAD_TIME in staff.get(f"/don-vi/{node.agency}").get_data(as_text=True)
