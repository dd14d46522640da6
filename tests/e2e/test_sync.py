"""Sync between a real node and a real central, both started through their CLIs on loopback."""
import time

import pytest

from tests.conftest import wait_until
from tests.e2e.harness import Central, Node

pytestmark = pytest.mark.usefixtures("e2e_central_database")  # central on each engine (--central-db)

AGENCY = "000.00.06.H56"


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    yield central, node
    node.stop()
    central.stop()


def enrol(central, node):
    code = central.add_node(AGENCY)
    central.start()
    out = node.enroll(central.url, code).stdout
    assert "central's key fingerprint" in out
    return out


def test_enrolment_pins_keys_and_both_sides_show_the_same_fingerprints(world):
    central, node = world
    out = enrol(central, node)
    node_fp = out.split("this node's key fingerprint: ")[1].split()[0]
    conn = central.db()
    assert conn.execute("SELECT fingerprint FROM node_keys WHERE node = ? AND revoked_at IS NULL",
                        (AGENCY,)).fetchone()[0] == node_fp
    key = node.dir / "node.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_500_dossiers_received_while_central_is_down_arrive_exactly_once_within_60_s(world):
    central, node = world
    enrol(central, node)
    central.stop()
    node.start()
    node.intake(500)
    assert len(node.events()) == 500
    wait_until(lambda: node.sync_value("last_error_at") is not None, 30,
               message="the worker has failed to reach central and is backing off")
    central.start()
    up = time.monotonic()
    wait_until(lambda: len(central.events(AGENCY)) == 500, 60, message="500 events at central")
    assert time.monotonic() - up < 60
    assert central.events(AGENCY) == node.events()  # same seqs, same hashes, nothing twice
    conn = central.db()
    assert conn.execute("SELECT count(*) FROM dossiers WHERE node = ?", (AGENCY,)).fetchone()[0] == 500
    wait_until(lambda: node.sync_value("acked_seq") == "500", 10, message="node sees the ack")
