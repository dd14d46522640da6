"""Upgrading a node: a database made by the first released schema, with data, opened by today's code.

The fixture folder tests/node/fixtures/node-0001/ was built by release 6ba8545's own code (see
make_first_schema_db.py next to it): schema 0001_initial only, 24 dossiers in several statuses,
55 events, staff, an API token, access-log rows, and that release's motcua.toml.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from appshell.sqlite import connect
from domain.dossier import apply_event
from migrations.node import migrations
from node import events, store
from node.db import migrate
from node.settings import DB_NAME
from tests.conftest import AGENCY, Clock, login

FIXTURE = Path(__file__).parent / "fixtures" / "node-0001"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def old_node(tmp_path) -> Path:
    data = tmp_path / "node"
    shutil.copytree(FIXTURE, data)
    return data


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    finally:
        conn.close()


def contents(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {
            "dossiers": {code: json.loads(doc) for code, doc in conn.execute("SELECT code, doc FROM dossiers")},
            "events": conn.execute("SELECT seq, id, type, dossier, at, hash, body FROM events ORDER BY seq").fetchall(),
            "users": conn.execute("SELECT username, role, password_hash FROM users ORDER BY id").fetchall(),
            "tokens": conn.execute("SELECT token_hash FROM api_tokens").fetchall(),
            "counters": conn.execute("SELECT name, value FROM counters ORDER BY name").fetchall(),
            "access_log": conn.execute("SELECT * FROM access_log ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def test_the_fixture_is_a_first_schema_database_with_data():
    assert applied(FIXTURE / DB_NAME) == ["0001_initial"]
    data = contents(FIXTURE / DB_NAME)
    assert len(data["dossiers"]) == 24 and len(data["events"]) == 55
    assert {d["status"] for d in data["dossiers"].values()} >= {2, 4, 5, 6, 9, 10}


def test_a_first_schema_database_upgrades_on_start_with_its_data_and_event_chain_intact(old_node):
    from node import create_app
    before = contents(old_node / DB_NAME)
    clock = Clock(datetime(2026, 1, 8, 9, 0))
    app = create_app({"DATA_DIR": old_node, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})

    assert applied(old_node / DB_NAME) == [m.name for m in migrations._migrations]
    copy, = (old_node / "backups").glob("pre-migrate-*.db")  # copied before migrating
    assert applied(copy) == ["0001_initial"] and contents(copy) == before
    assert contents(old_node / DB_NAME) == before  # every row as it was

    conn = connect(old_node / DB_NAME)
    try:
        head = events.verify_all(conn)
        assert (head.seq, head.hash) == (55, before["events"][-1][5])
        for code, doc in before["dossiers"].items():  # today's reducer rebuilds the old rows exactly
            state = None
            for event in events.for_dossier(conn, code):
                state = apply_event(state, event)
            assert state == doc, code
        # what the new schema brought works on the old data
        assert conn.execute("SELECT count(*) FROM recovery_log").fetchone()[0] == 0
        tail = [r["code"] for r in store.search(conn, "0003")]
        assert sorted(tail) == sorted(c for c in before["dossiers"] if c.endswith("-0003")) and len(tail) == 3
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM dossiers WHERE substr(code, -4) = '0003'"))
        assert "dossiers_code_tail" in plan
    finally:
        conn.close()

    client = app.test_client()
    assert login(client, "lan", "Clerk-pass-2026").status_code == 302  # old accounts still log in
    code = sorted(before["dossiers"])[0]
    assert code in client.get(f"/ho-so/{code}").get_data(as_text=True)
    r = client.post("/tiep-nhan", data={"procedure": "1.001193", "name": "Lê Thị Hoa", "id_number": "001190001111",
                                        "phone": "0911222333", "address": "Thôn Tây", "email": "",
                                        "channel": "in_person", "return_method": "desk", "doc": ["1"],
                                        "doc_name_1": "Tờ khai", "doc_kind_1": "original", "doc_count_1": "1"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    conn = connect(old_node / DB_NAME)
    try:
        new = conn.execute("SELECT code, doc FROM dossiers WHERE code LIKE ?", (f"{AGENCY}-260108-%",)).fetchone()
        assert new["code"] == f"{AGENCY}-260108-0001"
        assert json.loads(new["doc"])["register_no"] == 25  # the year's register continues after the old 24
        assert events.verify_all(conn).seq == 56
    finally:
        conn.close()


def test_the_old_api_token_still_works_after_the_upgrade(old_node):
    from appshell import accounts
    from node import create_app, roles
    app = create_app({"DATA_DIR": old_node, "TESTING": True})
    conn = connect(old_node / DB_NAME)
    account = accounts.by_name(conn, "lan")
    token = accounts.create_token(conn, account, "new", datetime(2026, 1, 8, 9, 0), prefix=roles.TOKEN_PREFIX)
    conn.close()
    r = app.test_client().get("/api/v1/dossiers?status=10", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and len(r.get_json()["dossiers"]) == 4


FAILING_START = """
import sys
from migrations.node import migrations
step = next(m for m in migrations._migrations if m.name == "0003_code_tail_index")
def broken(db):
    db.execute("CREATE INDEX half_done ON dossiers(phone, status)")  # some work done, then it fails
    raise RuntimeError("no space left for the new index")
step.fn = broken
from node.cli import main
sys.argv = ["motcua-node", "run", "--data", sys.argv[1], "--port", "1"]
main()
"""


def test_a_failed_migration_leaves_the_database_as_it_was_and_the_node_refuses_to_start(old_node):
    before = dump(old_node / DB_NAME)
    result = subprocess.run([sys.executable, "-c", FAILING_START, str(old_node)], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: database migration 0003_code_tail_index failed "
                           "(RuntimeError: no space left for the new index); the database was left as it was")
    assert "pre-migrate-" in last and "Traceback" not in result.stderr
    assert dump(old_node / DB_NAME) == before  # 0002, applied before 0003 failed, was undone too
    assert applied(old_node / DB_NAME) == ["0001_initial"]
    # with the fixed version, the same database upgrades normally
    assert migrate(old_node / DB_NAME, backup_dir=old_node / "backups") == [
        m.name for m in migrations._migrations][1:]


def test_no_copy_is_made_when_nothing_is_pending(node_dir):
    assert migrate(node_dir / DB_NAME, backup_dir=node_dir / "backups") == []
    assert not list((node_dir / "backups").glob("pre-migrate-*"))
