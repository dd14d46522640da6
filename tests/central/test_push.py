import gzip
import json
import os
from datetime import timedelta

from domain import workflow
from protocol import keys
from protocol import sync as wire
from protocol.canonical import canonical_json
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER
from protocol.events import event_hash
from tests.central.conftest import AGENCY, FakeNode, add_node, open_reply


def test_a_pushed_batch_is_stored_verbatim_and_materialised_as_dossier_rows(central, central_app, conn, clock,
                                                                          node):
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    response = node.push(central)
    assert response.status_code == 200
    reply = open_reply(central_app, response)
    assert reply["accepted"] == 2 and reply["duplicates"] == 0
    assert reply["head"] == {"seq": 2, "hash": node.head_hash}
    assert reply["node"] == AGENCY and reply["central_time"] == clock.now.isoformat()
    stored = conn.execute("SELECT body, hash FROM events WHERE node = ? ORDER BY seq", (AGENCY,)).fetchall()
    assert [r["body"].encode() for r in stored] == [canonical_json(e) for e in node.events]
    assert [r["hash"] for r in stored] == [event_hash(e) for e in node.events]
    batch = conn.execute("SELECT * FROM batches").fetchone()
    assert batch["source"] == "push" and (batch["first_seq"], batch["last_seq"]) == (1, 2)
    assert json.loads(gzip.decompress(batch["body"]))["events"] == node.events
    row = conn.execute("SELECT * FROM dossiers WHERE code = ?", (code,)).fetchone()
    assert row["node"] == AGENCY and row["status"] == 4 and row["handler"] == "hung"
    assert json.loads(row["doc"]) == node.states[code]
    n = conn.execute("SELECT * FROM nodes WHERE id = ?", (AGENCY,)).fetchone()
    assert (n["head_seq"], n["head_hash"], n["pending_reported"]) == (2, node.head_hash, 0)
    assert n["last_contact_at"] == clock.now.isoformat()


def test_every_reply_answers_its_request_nonce(central, central_app, node):
    payload = node.payload(events=[], pending=0, oldest_pending_at=None)
    reply = open_reply(central_app, node.post(central, wire.PUSH, payload))
    assert reply["request"] == payload["nonce"]


def test_a_replayed_old_batch_is_acknowledged_and_adds_nothing(central, central_app, conn, node):
    node.receive()
    node.receive()
    body, signature = node.seal(node.payload(events=node.events, pending=2, oldest_pending_at=None))
    headers = {NODE_HEADER: AGENCY, SIGNATURE_HEADER: signature, "Content-Encoding": "gzip"}
    assert central.post(wire.PUSH, data=body, headers=headers).status_code == 200
    replay = central.post(wire.PUSH, data=body, headers=headers)
    assert replay.status_code == 200
    reply = open_reply(central_app, replay)
    assert reply["accepted"] == 0 and reply["duplicates"] == 2 and reply["head"]["seq"] == 2
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 1


def test_a_batch_that_overlaps_the_head_stores_only_the_new_events(central, central_app, node):
    node.receive()
    node.push(central)
    node.receive()
    reply = open_reply(central_app, node.push(central))
    assert (reply["accepted"], reply["duplicates"], reply["head"]["seq"]) == (1, 1, 2)


def test_one_flipped_bit_is_refused(central, central_app, conn, node):
    node.receive()
    body, signature = node.seal(node.payload(events=node.events, pending=1, oldest_pending_at=None))
    raw = bytearray(gzip.decompress(body))
    raw[raw.index(b'"actor"') + 10] ^= 0x01  # one bit of the clerk's name
    response = central.post(wire.PUSH, data=gzip.compress(bytes(raw)), headers={
        NODE_HEADER: AGENCY, SIGNATURE_HEADER: signature, "Content-Encoding": "gzip"})
    assert response.status_code == 401
    assert open_reply(central_app, response)["error"]["code"] == "bad_signature"
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_batch_signed_by_an_unregistered_key_is_refused(central, central_app, node):
    node.receive()
    response = node.push(central, key=keys.generate())
    assert response.status_code == 401
    assert open_reply(central_app, response)["error"]["code"] == "bad_signature"


def test_an_unknown_node_is_refused(central, central_app, clock):
    stranger = FakeNode(clock, "000.00.99.H56")
    stranger.receive()
    response = stranger.push(central)
    assert response.status_code == 403
    assert open_reply(central_app, response)["error"]["code"] == "unknown_node"


def test_a_node_added_but_not_yet_enrolled_cannot_push(central, central_app, conn, clock):
    add_node(conn, clock)
    fake = FakeNode(clock)
    fake.receive()
    assert open_reply(central_app, fake.push(central))["error"]["code"] == "unknown_node"


def test_a_gap_is_refused_with_central_s_head(central, central_app, conn, node):
    for _ in range(3):
        node.receive()
    node.push(central, events=node.events[:1])
    response = node.push(central, events=node.events[2:])
    assert response.status_code == 409
    reply = open_reply(central_app, response)
    assert reply["error"]["code"] == "gap"
    assert reply["head"] == {"seq": 1, "hash": event_hash(node.events[0])}
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1


def test_a_fork_is_recorded_and_never_overwrites_what_central_stored(central, central_app, conn, clock, node):
    node.receive()
    node.receive()
    node.push(central)
    original = [dict(e) for e in node.events]
    # The node's disk was restored from an old copy and it wrote different events 2 and 3.
    node.events = node.events[:1]
    node.receive()
    node.receive()
    response = node.push(central)
    assert response.status_code == 409
    reply = open_reply(central_app, response)
    assert reply["error"]["code"] == "fork" and reply["head"]["seq"] == 2
    fork = conn.execute("SELECT * FROM forks").fetchone()
    assert fork["node"] == AGENCY and fork["seq"] == 2
    assert fork["stored_hash"] == event_hash(original[1]) and fork["offered_hash"] == event_hash(node.events[1])
    assert json.loads(fork["offered_body"]) == node.events[1]
    stored = [r["hash"] for r in conn.execute("SELECT hash FROM events ORDER BY seq")]
    assert stored == [event_hash(e) for e in original]
    node.push(central)  # the same fork again is not recorded twice
    assert conn.execute("SELECT COUNT(*) FROM forks").fetchone()[0] == 1


def test_a_continuation_that_does_not_link_to_the_head_is_a_fork(central, central_app, conn, node):
    node.receive()
    node.push(central)
    node.receive()
    node.events[-1]["prev"] = "f" * 64
    reply = open_reply(central_app, node.push(central, events=node.events[1:]))
    assert reply["error"]["code"] == "fork"
    assert conn.execute("SELECT seq, offered_hash FROM forks").fetchone()[:] == (1, "f" * 64)


def test_a_broken_link_inside_the_batch_is_refused_as_a_chain_error(central, central_app, conn, node):
    node.receive()
    node.receive()
    node.events[1]["prev"] = "e" * 64
    response = node.push(central)
    assert response.status_code == 409
    assert open_reply(central_app, response)["error"]["code"] == "chain"
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read(central, central_app, node):
    big = os.urandom(central_app.config["CAPS"].max_body + 1)
    response = central.post(wire.PUSH, data=big, headers={NODE_HEADER: AGENCY, SIGNATURE_HEADER: "x",
                                                          "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert open_reply(central_app, response)["error"]["code"] == "too_large"


def test_a_gzip_bomb_is_refused_with_413_without_expanding_it(central, central_app, node):
    bomb = gzip.compress(b"\0" * (central_app.config["CAPS"].max_decompressed + 1024), compresslevel=9)
    assert len(bomb) < central_app.config["CAPS"].max_body
    response = central.post(wire.PUSH, data=bomb, headers={NODE_HEADER: AGENCY, SIGNATURE_HEADER: "x",
                                                           "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert open_reply(central_app, response)["error"]["code"] == "too_large"


def test_an_empty_push_is_a_heartbeat_that_returns_central_s_head(central, central_app, conn, clock, node):
    node.receive()
    node.push(central)
    clock.advance(minutes=5)
    payload = node.payload(events=[], pending=7, oldest_pending_at="2026-01-05T08:00:00")
    payload["sent_at"] = (clock.now - timedelta(seconds=90)).isoformat()
    reply = open_reply(central_app, node.post(central, wire.PUSH, payload))
    assert reply["head"] == {"seq": 1, "hash": node.head_hash}
    assert (reply["accepted"], reply["duplicates"]) == (0, 0)
    row = conn.execute("SELECT * FROM nodes WHERE id = ?", (AGENCY,)).fetchone()
    assert row["pending_reported"] == 7 and row["oldest_pending_at"] == "2026-01-05T08:00:00"
    assert row["clock_offset_seconds"] == -90 and row["last_contact_at"] == clock.now.isoformat()


def test_a_materialisation_problem_is_an_anomaly_and_never_rejects_the_batch(central, central_app, conn, node):
    code = node.receive()
    # An event the reducer cannot apply: resolving a dossier that was only received (2 -> 9).
    node.append("dossier.resolved", code, {"from": 4, "to": 9, "set": {}, "note": ""})
    node.append("dossier.assigned", "000.00.06.H56-990101-0001", {"set": {"handler": "x"}, "note": ""})
    other = node.receive()
    response = node.push(central)
    assert response.status_code == 200
    assert open_reply(central_app, response)["accepted"] == 4
    anomalies = conn.execute("SELECT seq, dossier, message FROM anomalies ORDER BY seq").fetchall()
    assert [(a["seq"], a["dossier"]) for a in anomalies] == [(2, code), (3, "000.00.06.H56-990101-0001")]
    assert "expects status 4" in anomalies[0]["message"]
    assert conn.execute("SELECT status FROM dossiers WHERE code = ?", (code,)).fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM dossiers WHERE code = ?", (other,)).fetchone()[0] == 1


def test_a_malformed_event_is_refused_before_anything_is_stored(central, central_app, conn, node):
    node.receive()
    bad = dict(node.events[0], extra=1)
    response = node.push(central, events=[bad])
    assert response.status_code == 400
    assert open_reply(central_app, response)["error"]["code"] == "bad_payload"
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_node_cannot_push_events_of_another_node(central, central_app, conn, clock, node):
    impostor = FakeNode(clock, "000.00.07.H56")
    impostor.receive()
    response = node.push(central, events=impostor.events)
    assert open_reply(central_app, response)["error"]["code"] == "bad_payload"


def test_history_returns_the_node_s_own_events_as_stored(central, central_app, node):
    for _ in range(3):
        node.receive()
    node.push(central)
    reply = open_reply(central_app, node.post(central, wire.HISTORY, node.payload(after=1, limit=10)))
    assert reply["events"] == node.events[1:]
    assert reply["head"] == {"seq": 3, "hash": node.head_hash}
    empty = open_reply(central_app, node.post(central, wire.HISTORY, node.payload(after=3)))
    assert empty["events"] == []


def test_history_of_a_node_is_refused_to_another_key(central, central_app, node):
    response = node.post(central, wire.HISTORY, node.payload(after=0), key=keys.generate())
    assert response.status_code == 401
