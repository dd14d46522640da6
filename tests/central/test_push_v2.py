"""Central's side of wire format v2: rebuilt, verified and stored exactly like a v1 batch."""
import gzip

import pytest

from domain import workflow
from protocol import keys, wire2
from protocol import sync as wire
from protocol.canonical import canonical_json, loads
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER
from protocol.events import event_hash
from tests.central.conftest import AGENCY, open_reply


def push_v2(client, node, events, batch_signature=None, extra=None):
    payload = dict(node.payload(events=events, pending=0, oldest_pending_at=events[0]["at"] if events else None),
                   **(extra or {}))
    raw = canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(events, node.agency)))
    return client.post(wire.PUSH, data=wire2.compress(raw), headers={
        NODE_HEADER: node.agency, SIGNATURE_HEADER: keys.sign(node.key, raw),
        wire2.BATCH_SIGNATURE_HEADER: batch_signature or keys.sign(node.key, canonical_json(payload)),
        "Content-Encoding": wire2.ENCODING, "Content-Type": "application/json"})


@pytest.mark.parametrize("extra", [None, {"a_field_sorting_before_events": 1}])
def test_a_v2_batch_is_stored_as_the_full_v1_batch_its_signature_covers(central, central_app, conn, node, extra):
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    response = push_v2(central, node, node.events, extra=extra)
    assert response.status_code == 200
    reply = open_reply(central_app, response)
    assert reply["accepted"] == 2 and reply["head"] == {"seq": 2, "hash": node.head_hash}
    assert reply["wire"] == {"accepts": [1, 2], "prefers": 2, "resume": True} and reply["feed_head"]["seq"] == 0
    stored = conn.execute("SELECT body, hash FROM events WHERE node = ? ORDER BY seq", (AGENCY,)).fetchall()
    assert [r["body"].encode() for r in stored] == [canonical_json(e) for e in node.events]
    assert [r["hash"] for r in stored] == [event_hash(e) for e in node.events]
    batch = conn.execute("SELECT signature, body FROM batches").fetchone()
    raw = gzip.decompress(batch["body"])
    assert keys.verify(node.key.public_key(), raw, batch["signature"])
    assert loads(raw)["events"] == node.events
    assert conn.execute("SELECT status FROM dossiers WHERE code = ?", (code,)).fetchone()[0] == 4


def test_a_v2_batch_whose_rebuilt_events_do_not_match_the_batch_signature_is_refused_and_nothing_stored(
        central, central_app, conn, node):
    node.receive()
    other = node.payload(events=node.events, pending=1, oldest_pending_at=None)  # signed something else
    response = push_v2(central, node, node.events, batch_signature=keys.sign(node.key, canonical_json(other)))
    assert response.status_code == 401
    assert open_reply(central_app, response)["error"]["code"] == "bad_batch_signature"
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 0


def test_a_central_set_to_v1_only_refuses_v2_and_advertises_nothing(central_dir, clock, node):
    from central.app import create_app
    from central.settings import load_settings
    settings = dict(load_settings(central_dir), sync_wire_versions="1")
    app = create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True, "SETTINGS": settings})
    client = app.test_client()
    node.receive()
    response = push_v2(client, node, node.events)
    assert response.status_code == 400
    reply = open_reply(app, response)
    assert reply["error"]["code"] == "bad_encoding" and "wire" not in reply
