"""Central restored from an older backup loses nothing silently (issue 8 point 5), with real processes.

The restored central has forgotten what it handed down since the backup, so its online counter and
its feed to the node are rolled back. The node notices by hash (not only by seq), says so on every
page and in ``doctor``, and ``motcua-node resync-feed`` brings both sides back together.
"""
from __future__ import annotations

import pytest

from tests.conftest import wait_until
from tests.e2e.harness import APPLICANT, Central, Node, cli, login

AGENCY = "000.00.06.H56"
PROCEDURE = "1.001193"

pytestmark = pytest.mark.usefixtures("e2e_central_database")  # central on each engine (--central-db)


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    code = central.add_node(AGENCY)
    central.start()
    node.enroll(central.url, code)
    node.start()
    wait_until(lambda: node.sync_value("last_success_at") is not None, 30, message="first sync")
    yield central, node
    node.stop()
    central.stop()


def copy_db(central, target):
    """An older copy of central, taken with its own backup command (SQLite's backup API or pg_dump)."""
    cli("central.cli", "backup", "--data", central.dir, "--to", target)


def restore_db(central, copy):
    central.stop()
    cli("central.cli", "restore", "--data", central.dir, "--from", copy, "--force")


def central_conn(central):
    """A connection that may write to central's database, on either engine."""
    from central.db import connect
    return connect(central.database or central.dir / "motcua-central.db")


def hand_down(central, name: str) -> str:
    """Register an online dossier at central exactly as its web form and API do (central.online)."""
    from central import online
    from domain.clock import local_now
    conn = central_conn(central)
    try:
        state, _entry = online.register(conn, node=AGENCY, procedure_code=PROCEDURE,
                                        applicant=dict(APPLICANT, name=name),
                                        documents=[{"name": "Tờ khai", "kind": "original", "count": 1}],
                                        return_method="desk", actor="admin", now=local_now())
    finally:
        conn.close()
    return state["code"]


def online_dossiers_at_node(node) -> dict[str, str]:
    conn = node.db()
    try:
        return {r["code"]: r["applicant_name"] for r in conn.execute(
            "SELECT code, applicant_name FROM dossiers WHERE channel = 'online' ORDER BY code")}
    finally:
        conn.close()


def test_after_central_is_restored_from_an_old_copy_two_online_dossiers_handed_down_both_reach_the_commune(
        world, tmp_path):
    central, node = world
    old = tmp_path / "central-before.backup"
    copy_db(central, old)
    first = hand_down(central, "Trần Thị Một")
    wait_until(lambda: first in online_dossiers_at_node(node), 30, message="first online dossier at the node")
    wait_until(lambda: central.events(AGENCY) == node.events(), 30, message="node pushed it")
    restore_db(central, old)  # central's online counter and feed to the node are rolled back
    second = hand_down(central, "Lê Văn Hai")
    third = hand_down(central, "Phạm Thị Ba")
    assert second == first  # the restored central gave the node's code out again
    central.start()

    wait_until(lambda: node.sync_value("feed_diverged") is not None, 30, message="divergence noticed")
    page = login(node.url).get(node.url + "/", timeout=10).text
    assert 'id="feed-diverged"' in page and "motcua-node resync-feed" in page
    doctor = cli("node.cli", "doctor", "--data", node.dir, check=False)
    assert doctor.returncode == 1 and "resync-feed" in doctor.stdout

    node.stop()
    result = cli("node.cli", "resync-feed", "--data", node.dir)
    assert "central's feed re-read" in result.stdout
    held = online_dossiers_at_node(node)
    assert held[first] == "Trần Thị Một" and held[third] == "Phạm Thị Ba"
    assert sorted(held.values()) == ["Lê Văn Hai", "Phạm Thị Ba", "Trần Thị Một"]
    assert len(set(held)) == 3 and all(int(code[-4:]) >= 9001 for code in held)

    node.start()
    wait_until(lambda: node.sync_value("last_error_kind") is None and node.sync_value("feed_diverged") is None
               and central.events(AGENCY) == node.events(), 30, message="sync healthy again")
    conn = central.db()
    try:
        rows = {r["code"]: r["applicant_name"] for r in conn.execute(
            "SELECT code, applicant_name FROM dossiers WHERE channel = 'online'")}
        issued = {r["code"] for r in conn.execute("SELECT code FROM online_dossiers")}
    finally:
        conn.close()
    assert rows == held and issued == set(held)


def test_a_publish_after_central_is_restored_heals_with_resync_feed(world, tmp_path):
    from appshell.sqlite import write_tx
    from central.feed import latest, publish
    from domain.clock import local_now
    central, node = world
    old = tmp_path / "central-before.backup"
    copy_db(central, old)

    def publish_calendar():
        conn = central_conn(central)
        try:
            version, body = latest(conn, "calendar")
            with write_tx(conn):
                publish(conn, "calendar", version + 1, body, now=local_now())
            return version + 1
        finally:
            conn.close()

    version = publish_calendar()
    wait_until(lambda: node.db().execute("SELECT version FROM reference_versions WHERE kind = 'calendar'")
               .fetchone()[0] == version, 30, message="calendar applied")
    restore_db(central, old)
    assert publish_calendar() == version  # the restored central publishes the same version again
    central.start()
    wait_until(lambda: node.sync_value("last_error_kind") == "feed", 30, message="divergence noticed")
    node.stop()
    cli("node.cli", "resync-feed", "--data", node.dir)
    node.start()
    code = node.intake(1)[0]
    wait_until(lambda: node.sync_value("last_error_kind") is None and central.events(AGENCY) == node.events(),
               30, message="sync healthy again")
    assert node.sync_value("feed_seq") is not None
    conn = central.db()
    try:
        assert conn.execute("SELECT 1 FROM dossiers WHERE code = ?", (code,)).fetchone() is not None
    finally:
        conn.close()
