"""Central's SQLite name index (FTS5 ``dossiers_fts``) holds every stored dossier's folded name: since
migration 0008 no insert trigger fills it; central.ingest.write_rows indexes the rows a push inserts
in one statement. FTS5's own integrity check with rank 1 compares the index with the dossiers table
row by row (it fails on any row missing, extra or stale)."""
from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from appshell.sqlite import connect
from central import ingest
from central.store.search import search
from domain import workflow
from migrations.central import migrations
from tests.central.conftest import AGENCY, APPLICANT


@pytest.fixture
def sqlite_only(central_backend):
    if central_backend != "sqlite":
        pytest.skip("on PostgreSQL the name index is a GIN index over an expression, kept by PostgreSQL")


def index_matches_table(conn) -> bool:
    try:
        conn.execute("INSERT INTO dossiers_fts(dossiers_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError:  # "database disk image is malformed": the index and the table differ
        return False
    return True


def names(conn, query: str) -> set[str]:
    return {row["code"] for row in search(conn, query)}


def rename(node, code: str, name: str) -> None:
    node.append("dossier.corrected", code, {"from": None, "to": None, "note": "Đính chính họ tên",
                                            "set": {"applicant": dict(node.states[code]["applicant"], name=name)}})


def test_every_dossier_a_push_stores_is_in_the_name_index_through_new_rows_updates_and_a_rename(
        sqlite_only, central, conn, node):
    codes = [node.receive() for _ in range(3)]
    assert node.push(central).status_code == 200
    assert index_matches_table(conn)
    assert names(conn, "nguyen van dung") == set(codes)

    sent = len(node.events)
    node.act(codes[0], workflow.start_processing, {"handler": "Trần Văn Hùng"})
    rename(node, codes[1], "Lê Thị Hoa")
    later = node.receive()
    assert node.push(central, node.events[sent:]).status_code == 200  # updates, a rename and one new row
    assert index_matches_table(conn)
    assert names(conn, "le thi hoa") == {codes[1]}
    assert names(conn, "nguyen van dung") == {codes[0], codes[2], later}
    assert conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 4


def test_a_row_that_cannot_be_stored_leaves_the_others_stored_and_indexed(sqlite_only, central_app, conn, clock,
                                                                          node):
    codes = [node.receive() for _ in range(3)]
    # this connection refuses one of the rows, as a database error would: the batch's rows are then
    # stored one by one, and the refused one becomes an anomaly
    conn.execute(f"CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.dossiers WHEN new.code = '{codes[1]}' "
                 "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")
    body, signature = node.seal(node.payload(events=node.events, pending=0, oldest_pending_at=None))
    status, reply = ingest.ingest(conn, AGENCY, body, signature, source="push", now=clock.now,
                                  caps=central_app.config["CAPS"])
    assert status == 200 and reply["accepted"] == 3
    stored = {row["code"] for row in conn.execute("SELECT code FROM dossiers")}
    assert stored == {codes[0], codes[2]}
    [anomaly] = conn.execute("SELECT message FROM anomalies").fetchall()
    assert anomaly["message"].startswith(f"{codes[1]}: row not stored")
    assert index_matches_table(conn)
    assert names(conn, "nguyen van dung") == {codes[0], codes[2]}


def test_migration_0008_drops_the_insert_trigger_and_keeps_the_index_of_the_rows_already_stored(tmp_path):
    conn = connect(tmp_path / "central.db")
    migrations.apply(Database(conn), stop_before="0008_names_indexed_per_push")
    conn.execute("INSERT INTO nodes(id, name, status, created_at) VALUES (?, 'UBND xã Hòa Bình', 'active', "
                 "'2026-01-05T08:00:00')", (AGENCY,))
    columns = ("code", "node", "agency", "procedure_code", "procedure_name", "field", "channel", "status", "holder",
               "applicant_name", "name_folded", "id_number", "phone", "updated_at", "doc")
    for i, (name, folded) in enumerate([(APPLICANT["name"], "nguyen van dung"), ("Lê Thị Hoa", "le thi hoa")]):
        conn.execute(f"INSERT INTO dossiers({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     (f"{AGENCY}-260105-000{i + 1}", AGENCY, AGENCY, "1.0001", "Thủ tục", "Hộ tịch", "in_person", 2,
                      "node", name, folded, "001203004567", "0912345678", "2026-01-05T08:00:00", "{}"))
    assert index_matches_table(conn)  # the trigger indexed them

    migrations.apply(Database(conn))
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'dossiers_fts_insert'").fetchone()[0] == 0
    assert index_matches_table(conn)
    assert names(conn, "le thi hoa") == {f"{AGENCY}-260105-0002"}
    top = conn.execute("SELECT max(id) FROM dossiers").fetchone()[0]
    conn.execute(f"INSERT INTO dossiers({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                 (f"{AGENCY}-260105-0003", AGENCY, AGENCY, "1.0001", "Thủ tục", "Hộ tịch", "in_person", 2, "node",
                  "Phạm Quốc Bảo", "pham quoc bao", "001203004568", "0912345679", "2026-01-05T08:00:00", "{}"))
    assert not index_matches_table(conn)  # no trigger: a row inserted alone is not indexed ...
    ingest.index_names(conn, top)
    assert index_matches_table(conn)  # ... until index_names puts it in, as write_rows does
    assert names(conn, "pham quoc bao") == {f"{AGENCY}-260105-0003"}
    conn.close()
