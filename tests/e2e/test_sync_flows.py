"""Sync flows end to end: one holder per dossier, publishing, USB bundle, recovery, rollback, clock."""
import json
import shutil
import sqlite3
import sys

import pytest
import requests

from domain.clock import local_now
from tests.conftest import wait_until
from tests.e2e.harness import Central, Node, cli, login

# real servers on the real clock (codes, due times and feeds carry today), central on each engine (--central-db)
pytestmark = [pytest.mark.dates, pytest.mark.usefixtures("e2e_central_database")]

AGENCY = "000.00.06.H56"


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    code = central.add_node(AGENCY)
    central.start()
    node.enroll(central.url, code)
    yield central, node
    node.stop()
    central.stop()


def central_write(central):
    if central.database:  # PostgreSQL: central's own connection adapter (same interface)
        return central.db()
    conn = sqlite3.connect(central.dir / "motcua-central.db", timeout=15, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def synced(central, node):
    return lambda: central.events(AGENCY) == node.events()


@pytest.mark.faketime_unsafe
def test_a_dossier_handed_up_is_resolved_at_central_and_returned_by_the_node(world):
    central, node = world
    node.start()
    code = node.intake(1, procedure="XA-DD-01")[0]
    node.act(code, "start", handler="lan")
    held = node.act(code, "hand_up", to_unit="UBND tỉnh Quảng Ninh")
    assert held["holder"] == "central"
    r = requests.post(f"{node.url}/api/v1/dossiers/{code}/actions/resolve",
                      headers={"Authorization": f"Bearer {node.token}"}, json={}, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_holder"
    def central_holder():
        row = central.db().execute("SELECT holder FROM dossiers WHERE code = ?", (code,)).fetchone()
        return row and row[0]
    wait_until(lambda: central_holder() == "central", 20, message="central holds the dossier")
    cli("central.cli", "dossier", "hand-back", "--data", central.dir, code, "--outcome", "resolve",
        "--result-note", "Giấy chứng nhận đã cấp")

    def node_state():
        return requests.get(f"{node.url}/api/v1/dossiers/{code}",
                            headers={"Authorization": f"Bearer {node.token}"}, timeout=10).json()
    wait_until(lambda: node_state()["holder"] == "node", 20, message="hand-back applied at the node")
    assert node_state()["status"] == 9 and node_state()["result_note"] == "Giấy chứng nhận đã cấp"
    node.act(code, "return", rating=5)
    wait_until(synced(central, node), 20, message="central has the node's events")
    row = central.db().execute("SELECT status, holder, rating FROM dossiers WHERE code = ?", (code,)).fetchone()
    assert tuple(row) == (10, "node", 5)


@pytest.mark.faketime_unsafe
def test_a_published_catalogue_reaches_the_node_and_changes_new_due_times_only(world):
    from central.feed import latest, publish
    central, node = world
    node.start()
    before = node.intake(1, procedure="1.000894")[0]  # marriage: 5 working days
    wait_until(synced(central, node), 20, message="first sync")
    conn = central_write(central)
    version, body = latest(conn, "catalogue")
    for p in body["procedures"]:
        if p["code"] == "1.000894":
            p["limit"]["value"] = 10
    conn.execute("BEGIN IMMEDIATE")
    publish(conn, "catalogue", version + 1, body, now=local_now())
    conn.execute("COMMIT")
    wait_until(lambda: node.db().execute("SELECT version FROM reference_versions WHERE kind = 'catalogue'")
               .fetchone()[0] == version + 1, 20, message="catalogue installed")
    after = node.intake(1, procedure="1.000894")[0]
    docs = {r["code"]: json.loads(r["doc"]) for r in node.db().execute("SELECT code, doc FROM dossiers")}
    assert docs[before]["limit_value"] == 5 and docs[after]["limit_value"] == 10
    assert docs[after]["catalogue_version"] == version + 1
    assert docs[after]["due_at"] > docs[before]["due_at"]


def test_a_usb_bundle_is_imported_through_the_same_checks_and_nothing_is_sent_twice(world, tmp_path):
    central, node = world
    central.stop()  # no network at all
    node.start()
    node.intake(30)
    bundle = tmp_path / "xa.motcua"
    node.stop()
    out = cli("node.cli", "export-bundle", "--data", node.dir, bundle).stdout
    assert "wrote 30 events" in out
    imported = cli("central.cli", "import-bundle", "--data", central.dir, bundle).stdout
    assert "accepted 30" in imported
    again = cli("central.cli", "import-bundle", "--data", central.dir, bundle).stdout
    assert "accepted 0" in again and "duplicates 30" in again
    tampered = json.loads(bundle.read_text())
    tampered["sealed"]["ct"] = tampered["sealed"]["ct"][:-8] + "AAAAAAA="  # bundles are encrypted and sealed
    bad = tmp_path / "bad.motcua"
    bad.write_text(json.dumps(tampered))
    refused = cli("central.cli", "import-bundle", "--data", central.dir, bad, check=False)
    assert refused.returncode == 1 and "bad_bundle" in refused.stderr
    central.start()
    sync = cli("node.cli", "sync", "--data", node.dir, "--once").stdout
    assert "pushed 0 events" in sync
    assert central.events(AGENCY) == node.events()


def test_a_node_whose_disk_died_is_reinstalled_and_pulls_its_history_back(world, tmp_path):
    central, node = world
    node.start()
    codes = node.intake(12)
    node.act(codes[0], "start")
    wait_until(synced(central, node), 20, message="synced before the crash")
    original = node.events()
    node.stop()
    shutil.rmtree(node.dir)  # the disk died
    fresh = Node(tmp_path, AGENCY)  # reinstall with the same folder name
    out = fresh.enroll(central.url, central.recovery_code(AGENCY)).stdout
    assert "restored 13 events" in out
    assert fresh.events() == original
    fresh.start()
    more = fresh.intake(1)[0]
    assert more.endswith("-0013")  # the day's sequence continues
    wait_until(lambda: len(central.events(AGENCY)) == 14, 20, message="new event after recovery")
    assert central.events(AGENCY) == fresh.events()
    fresh.stop()


def test_a_node_restored_from_an_old_backup_is_a_fork_and_recover_loses_nothing(world, tmp_path):
    central, node = world
    node.start()
    node.intake(5)
    wait_until(synced(central, node), 20, message="first sync")
    node.stop()
    backup = tmp_path / "old.db"
    src = sqlite3.connect(node.dir / "motcua-node.db")
    dst = sqlite3.connect(backup)
    src.backup(dst)
    src.close(), dst.close()
    node.start()
    lost_if_careless = node.intake(3)  # synced, then the disk is restored from the old backup
    wait_until(synced(central, node), 20, message="second sync")
    node.stop()
    for suffix in ("", "-wal", "-shm"):
        (node.dir / f"motcua-node.db{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, node.dir / "motcua-node.db")
    node.start()
    # written after the restore: their codes collide with synced ones, their applicants differ (under faketime a
    # restarted node's clock starts again at the same second, and the same applicant would be the same event)
    after_restore = node.intake(2, first=10)
    wait_until(lambda: node.sync_value("last_error_kind") == "fork", 20, message="fork detected")
    assert "motcua-node recover" in login(node.url).get(node.url + "/").text  # clerks see what to do
    node.stop()
    out = cli("node.cli", "recover", "--data", node.dir).stdout
    assert "adopted 3 events" in out and "re-applied 2 local events" in out
    assert out.count("renumbered") == 2
    conn = node.db()
    codes = {r[0] for r in conn.execute("SELECT code FROM dossiers")}
    assert set(lost_if_careless) <= codes and len(codes) == 10
    assert set(after_restore) <= codes  # the old codes now belong to the synced dossiers
    node.start()
    wait_until(synced(central, node), 20, message="in line again")
    assert node.sync_value("last_error_kind") is None


@pytest.mark.faketime_unsafe
def test_a_rolled_back_central_feed_is_refused_by_the_node(world, tmp_path):
    from central.feed import latest, publish
    central, node = world
    node.start()
    wait_until(lambda: node.sync_value("last_success_at") is not None, 20, message="first sync")
    central.stop()
    old = tmp_path / "central-old.backup"
    cli("central.cli", "backup", "--data", central.dir, "--to", old)
    conn = central_write(central)
    version, body = latest(conn, "calendar")
    conn.execute("BEGIN IMMEDIATE")
    publish(conn, "calendar", version + 1, body, now=local_now())
    conn.execute("COMMIT")
    conn.close()
    central.start()
    wait_until(lambda: node.db().execute("SELECT version FROM reference_versions WHERE kind = 'calendar'")
               .fetchone()[0] == version + 1, 20, message="calendar v2 applied")
    applied = node.sync_value("feed_seq")
    central.stop()
    cli("central.cli", "restore", "--data", central.dir, "--from", old, "--force")  # restored from an old backup
    central.start()
    wait_until(lambda: node.sync_value("last_error_kind") == "feed", 20, message="rollback refused")
    assert node.sync_value("feed_seq") == applied
    assert node.db().execute("SELECT version FROM reference_versions WHERE kind = 'calendar'").fetchone()[0] \
        == version + 1


def test_the_clock_warning_appears_when_the_pc_clock_is_off_by_more_than_5_minutes(world, tmp_path):
    import node.clock as node_clock
    from node import create_app
    from node.settings import load_settings
    from node.sync import SyncWorker
    from tests.conftest import LiveServer
    central, node = world
    real = node_clock.local_now

    def skewed():
        return real().replace(microsecond=0) + __import__("datetime").timedelta(minutes=12)
    node_clock.local_now = skewed  # this PC's clock runs 12 minutes fast
    try:
        import node.sync_client as client_module
        client_module.local_now = skewed
        app = create_app({"DATA_DIR": node.dir, "CLOCK": skewed})
        worker = SyncWorker(node.dir, load_settings(node.dir)).start()
        app.extensions["motcua.sync"] = worker
        server = LiveServer(app).start()
        try:
            wait_until(lambda: node.sync_value("last_success_at") is not None, 20, message="sync")
            page = login(server.url).get(server.url + "/").text
            assert "Đồng hồ máy tính đang nhanh khoảng 12 phút" in page
            assert abs(int(node.sync_value("clock_offset_seconds")) + 720) < 30
        finally:
            server.stop()
            worker.stop()
    finally:
        # every module that took the skewed clock by name gets the real one back, also those first imported
        # while it was in place (``from .clock import local_now`` under create_app): the next tests of this
        # process see the one clock (tests/domain/test_clock.py)
        for module in list(sys.modules.values()):
            if getattr(module, "local_now", None) is skewed:
                module.local_now = real


def test_a_tampered_feed_reply_is_refused_and_nothing_is_applied(tmp_path):
    from central.feed import latest, publish
    from tests.e2e.faultproxy import FaultProxy
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    code = central.add_node(AGENCY)
    central.start()
    proxy = FaultProxy(central.port).start()
    try:
        node.enroll(proxy.url, code)
        cli("node.cli", "sync", "--data", node.dir, "--once")
        conn = central_write(central)
        version, body = latest(conn, "calendar")
        conn.execute("BEGIN IMMEDIATE")
        publish(conn, "calendar", version + 1, body, now=local_now())
        conn.execute("COMMIT")
        proxy.set(tamper=True)
        failed = cli("node.cli", "sync", "--data", node.dir, "--once", check=False)
        assert failed.returncode == 1 and "bad_reply" in failed.stderr

        def calendar_version():
            return node.db().execute(
                "SELECT version FROM reference_versions WHERE kind = 'calendar'").fetchone()[0]
        assert calendar_version() == version
        proxy.heal()
        cli("node.cli", "sync", "--data", node.dir, "--once")
        assert calendar_version() == version + 1
    finally:
        proxy.stop()
        central.stop()
