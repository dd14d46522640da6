"""Mixed wire versions in the field, with real processes (docs/ARCHITECTURE.md "Wire format").

The "old" side is the real previous release: main at commit c7894ff (before wire v2), unpacked
with ``git archive`` into a temp folder and run from there with the same interpreter, so its own
modules (protocol, node, central) are the ones that run. That is more honest than a setting that
makes today's code pretend: the old code cannot know anything about v2.
"""
from __future__ import annotations

import gzip

import pytest

from protocol.canonical import loads
from protocol.keys import load_public, verify
from tests.conftest import wait_until
from tests.e2e.harness import ROOT, Central, Node, release_checkout

OLD_RELEASE = "c7894ff"
NEW_AGENCY, OLD_AGENCY = "000.00.06.H56", "000.00.06.H57"


@pytest.fixture(scope="module")
def old_code(tmp_path_factory):
    target = release_checkout(tmp_path_factory.mktemp("release-c7894ff"), OLD_RELEASE)
    assert not (target / "protocol" / "wire2.py").exists()
    return target


def batches(central: Central, node: str) -> list:
    conn = central.db()
    try:
        return conn.execute("SELECT source, signature, body, first_seq, last_seq FROM batches WHERE node = ? "
                            "ORDER BY id", (node,)).fetchall()
    finally:
        conn.close()


def node_key(central: Central, node: str):
    conn = central.db()
    try:
        return load_public(conn.execute("SELECT public_key FROM node_keys WHERE node = ? AND revoked_at IS NULL",
                                        (node,)).fetchone()[0])
    finally:
        conn.close()


def test_a_new_central_takes_v1_from_an_old_node_and_v2_from_a_new_node_at_the_same_time(tmp_path, old_code):
    central = Central(tmp_path)
    codes = {NEW_AGENCY: central.add_node(NEW_AGENCY), OLD_AGENCY: central.add_node(OLD_AGENCY, "UBND xã Cũ")}
    central.start()
    new = Node(tmp_path, NEW_AGENCY, "new")
    old = Node(tmp_path, OLD_AGENCY, "old", code=old_code)
    try:
        for node in (new, old):
            node.enroll(central.url, codes[node.agency])
            node.start()
        for _ in range(3):  # interleaved: both push while the other does
            new.intake(2)
            old.intake(2)
        wait_until(lambda: len(central.events(NEW_AGENCY)) == len(new.events()) == 6
                   and len(central.events(OLD_AGENCY)) == len(old.events()) == 6, timeout=60)
        assert central.events(NEW_AGENCY) == new.events() and central.events(OLD_AGENCY) == old.events()
        assert new.sync_value("central_wire") == "2" and new.sync_value("last_push_wire") == "2"
        assert old.sync_value("central_wire") is None and old.sync_value("last_push_wire") is None
        for node in (NEW_AGENCY, OLD_AGENCY):  # every stored batch verifies like a v1 batch: gzip + signature
            key = node_key(central, node)
            for b in batches(central, node):
                raw = gzip.decompress(b["body"])
                assert verify(key, raw, b["signature"])
                assert [e["seq"] for e in loads(raw)["events"]] == list(range(b["first_seq"], b["last_seq"] + 1))
    finally:
        new.stop()
        old.stop()
        central.stop()


def test_a_new_node_falls_back_to_v1_against_an_old_central_and_moves_to_v2_when_it_is_upgraded(tmp_path, old_code):
    central = Central(tmp_path, code=old_code)
    code = central.add_node(NEW_AGENCY)
    central.start()
    node = Node(tmp_path, NEW_AGENCY, "new")
    try:
        node.enroll(central.url, code)
        node.start()
        node.intake(3)
        wait_until(lambda: len(central.events(NEW_AGENCY)) == 3, timeout=60)
        assert central.events(NEW_AGENCY) == node.events()
        assert node.sync_value("central_wire") in (None, "1") and node.sync_value("last_push_wire") == "1"
        # a node that had learnt v2 (central upgraded, then rolled back): refused v2, resent as v1
        conn = node.db()
        with conn:
            conn.execute("INSERT INTO sync_state(key, value) VALUES ('central_wire', '2') "
                         "ON CONFLICT(key) DO UPDATE SET value = '2'")
        conn.close()
        node.intake(2)
        wait_until(lambda: len(central.events(NEW_AGENCY)) == 5, timeout=60)
        assert central.events(NEW_AGENCY) == node.events()
        assert node.sync_value("central_wire") == "1" and node.sync_value("last_push_wire") == "1"
        # the same data folder under today's central: the node moves to v2 on its own
        central.stop()
        node.stop()
        central.code = central.server.code = ROOT
        central.start()
        node.start()
        node.intake(2)
        wait_until(lambda: len(central.events(NEW_AGENCY)) == 7 and node.sync_value("central_wire") == "2",
                   timeout=60)
        node.intake(1)
        wait_until(lambda: len(central.events(NEW_AGENCY)) == 8, timeout=60)
        assert central.events(NEW_AGENCY) == node.events()
        assert node.sync_value("last_push_wire") == "2"
    finally:
        node.stop()
        central.stop()
