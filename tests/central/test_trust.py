"""Central accepts from a node only what that node may say (issue 8 points 1-3).

Each test plays a node with a valid, enrolled key that sends something it must not: another
commune's dossier, a change to a dossier central holds, a value the desk's rules refuse.
The event is stored verbatim (the chain stays intact) and listed as an anomaly; no row changes.
"""
from __future__ import annotations

import copy

import pytest

from domain import workflow
from domain.codes import format_code
from tests.central.conftest import AGENCY, OTHER_AGENCY, FakeNode, add_node, open_reply
from tests.central.test_web import login

ATTACKER_APPLICANT = {"name": "Kẻ Mạo Danh", "id_number": "099999999999", "phone": "0999999999",
                      "address": "Nơi khác", "email": ""}


@pytest.fixture
def web(central_dir, clock, node):
    from central.app import create_app
    client = create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True,
                         "WTF_CSRF_ENABLED": False}).test_client()
    assert login(client).status_code == 302
    return client


@pytest.fixture
def victim(central, conn, clock):
    fake = FakeNode(clock, OTHER_AGENCY)
    assert fake.enrol(central, add_node(conn, clock, OTHER_AGENCY, "UBND xã Bình An")).status_code == 200
    return fake


def anomalies(conn, node=AGENCY):
    return [dict(r) for r in conn.execute("SELECT * FROM anomalies WHERE node = ? ORDER BY id", (node,))]


def row(conn, code):
    found = conn.execute("SELECT * FROM dossiers WHERE code = ?", (code,)).fetchone()
    return dict(found) if found else None


def stored_seqs(conn, node=AGENCY):
    return [r[0] for r in conn.execute("SELECT seq FROM events WHERE node = ? ORDER BY seq", (node,))]


def creation_for(node: FakeNode, own_code: str, dossier: dict) -> dict:
    """A creating event for ``own_code`` whose data carries ``dossier`` verbatim."""
    return node.append("dossier.received", own_code, {"dossier": dossier})


def forged_state(node: FakeNode, code: str, agency: str) -> dict:
    """A well-formed initial state under ``code`` built by the node's own domain code."""
    node.receive()
    state = copy.deepcopy(node.states.popitem()[1])
    node.events.pop()
    node.day_seq -= 1
    state.update(code=code, agency=agency, applicant=dict(ATTACKER_APPLICANT))
    return state


# --- 1. ownership ---------------------------------------------------------------------------------

def test_an_event_for_a_nodes_own_code_carrying_another_communes_code_does_not_overwrite_that_dossier(
        central, central_app, conn, clock, node, victim):
    real = victim.receive()
    assert victim.push(central).status_code == 200
    before = row(conn, real)
    own = format_code(AGENCY, clock.now.date(), 1)
    creation_for(node, own, forged_state(node, real, OTHER_AGENCY))
    response = node.push(central)
    assert response.status_code == 200 and open_reply(central_app, response)["accepted"] == 1
    assert stored_seqs(conn) == [1]  # stored verbatim: the chain stays intact
    assert row(conn, real) == before
    assert row(conn, own) is None
    assert [a["dossier"] for a in anomalies(conn)] == [own]
    victim.act(real, workflow.start_processing, {"handler": "an"})
    assert victim.push(central).status_code == 200
    after = row(conn, real)
    assert (after["node"], after["status"], after["handler"]) == (OTHER_AGENCY, 4, "an")
    assert after["applicant_name"] == before["applicant_name"]


def test_a_node_creating_a_dossier_under_another_communes_next_code_is_an_anomaly_and_the_real_one_still_appears(
        central, conn, clock, node, victim):
    squatted = format_code(OTHER_AGENCY, clock.now.date(), 1)
    creation_for(node, squatted, forged_state(node, squatted, OTHER_AGENCY))
    assert node.push(central).status_code == 200
    assert row(conn, squatted) is None
    assert "may not create" in anomalies(conn)[0]["message"]
    real = victim.receive()
    assert real == squatted
    assert victim.push(central).status_code == 200
    found = row(conn, real)
    assert found["node"] == OTHER_AGENCY and found["applicant_name"] == victim.states[real]["applicant"]["name"]
    assert anomalies(conn, OTHER_AGENCY) == []


def test_a_later_event_never_rewrites_the_owner_of_a_dossier(central, conn, clock, node, victim):
    real = victim.receive()
    victim.push(central)
    node.append("dossier.processing", real, {"from": 2, "to": 4, "set": {"handler": "x"}, "note": ""})
    assert node.push(central).status_code == 200
    found = row(conn, real)
    assert (found["node"], found["status"], found["handler"]) == (OTHER_AGENCY, 2, None)
    assert "belongs to node" in anomalies(conn)[0]["message"]


# --- 2. holder rule -------------------------------------------------------------------------------

def test_a_node_cannot_resolve_a_dossier_central_holds_and_centrals_hand_back_still_works(
        central, conn, clock, node):
    from central import handback
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    node.act(code, workflow.hand_up, {"to_unit": "UBND huyện"})
    assert node.push(central).status_code == 200
    held = node.states[code]
    node.append("dossier.resolved", code, {"from": 4, "to": 9, "note": "",
                                           "set": {"resolved_at": workflow.iso(clock.now), "holder": "node"}})
    assert node.push(central).status_code == 200
    found = row(conn, code)
    assert (found["status"], found["holder"]) == (4, "central")
    assert "central holds this dossier" in anomalies(conn)[0]["message"]
    entry = handback.hand_back(conn, code, {"outcome": "resolve", "result_note": "Đã cấp"}, "admin", clock.now)
    # the node applies central's hand-back as it does when it syncs: that event is accepted
    node.states[code] = held
    node.append("dossier.handed_back", code, {**{k: v for k, v in entry["data"].items() if k != "code"},
                                              "feed_seq": entry["seq"]})
    assert node.push(central).status_code == 200
    found = row(conn, code)
    assert (found["status"], found["holder"]) == (9, "node")
    assert len(anomalies(conn)) == 1


def test_a_node_cannot_hand_back_a_dossier_central_never_handed_back(central, conn, clock, node):
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    node.act(code, workflow.hand_up, {})
    node.push(central)
    node.act(code, workflow.hand_back_from_upper, {"outcome": "resolve"})
    assert node.push(central).status_code == 200
    assert row(conn, code)["holder"] == "central"
    assert "never made" in anomalies(conn)[0]["message"]


# --- 3. validation of what is materialised ---------------------------------------------------------

@pytest.mark.parametrize("change, expected", [
    ({"status": 42}, "status 42"),
    ({"received_at": "yesterday"}, "received_at"),
    ({"due_at": 17}, "due_at"),
    ({"rating": 9}, "rating 9"),
    ({"applicant": {**ATTACKER_APPLICANT, "id_number": "12ab"}}, "applicant.id_number"),
    ({"handler": "h" * 101}, "handler"),
], ids=["status", "received_at", "due_at", "rating", "id_number", "handler"])
def test_a_dossier_with_a_value_the_desk_refuses_becomes_an_anomaly_and_central_pages_keep_working(
        central, conn, clock, node, web, change, expected):
    good = node.receive()
    bad = format_code(AGENCY, clock.now.date(), 2)
    state = forged_state(node, bad, AGENCY)
    state.update(change)
    creation_for(node, bad, state)
    assert node.push(central).status_code == 200
    assert stored_seqs(conn) == [1, 2]
    assert row(conn, bad) is None and row(conn, good) is not None
    [anomaly] = anomalies(conn)
    assert anomaly["dossier"] == bad and expected in anomaly["message"]
    for path in (f"/ho-so/{good}", "/ho-so?q=nguyen", f"/ho-so?q={bad}", "/"):
        assert web.get(path).status_code == 200, path


def test_a_status_set_without_a_legal_transition_changes_no_row(central, conn, node):
    code = node.receive()
    node.push(central)
    node.append("dossier.assigned", code, {"set": {"status": 10}, "note": ""})  # 2 -> 10 behind a "set"
    node.append("dossier.processing", code, {"from": 2, "to": 9, "note": ""})
    assert node.push(central).status_code == 200
    assert row(conn, code)["status"] == 2
    messages = [a["message"] for a in anomalies(conn)]
    assert "illegal transition 2 -> 10" in messages[0] and "illegal transition 2 -> 9" in messages[1]


def test_a_change_that_sets_a_bad_time_rating_or_handler_changes_no_row(central, conn, node):
    code = node.receive()
    node.push(central)
    before = row(conn, code)
    node.append("dossier.assigned", code, {"set": {"due_at": "soon"}, "note": ""})
    node.append("dossier.assigned", code, {"set": {"rating": 0}, "note": ""})
    node.append("dossier.assigned", code, {"set": {"handler": "h" * 5000}, "note": ""})
    assert node.push(central).status_code == 200
    assert row(conn, code) == before
    messages = [a["message"] for a in anomalies(conn)]
    assert len(messages) == 3 and "due_at" in messages[0] and "rating 0" in messages[1] \
        and "handler" in messages[2]


def test_a_twenty_megabyte_name_is_stored_verbatim_as_an_anomaly_and_never_becomes_a_row(
        central, conn, clock, node):
    big = format_code(AGENCY, clock.now.date(), 1)
    state = forged_state(node, big, AGENCY)
    state["applicant"]["name"] = "A" * (20 * 1024 * 1024)
    creation_for(node, big, state)
    node.day_seq = 1
    after = node.receive()
    assert node.push(central).status_code == 200
    assert stored_seqs(conn) == [1, 2]
    stored = conn.execute("SELECT length(body) FROM events WHERE node = ? AND seq = 1", (AGENCY,)).fetchone()[0]
    assert stored > 20 * 1024 * 1024  # verbatim, so the chain (and the node's recovery) stays whole
    assert row(conn, big) is None and row(conn, after) is not None
    [anomaly] = anomalies(conn)
    assert "over the 65536-byte cap" in anomaly["message"] and len(anomaly["message"]) < 500


def test_the_event_size_cap_is_a_setting(central_dir):
    from central.settings import load_settings
    assert load_settings(central_dir)["max_event_bytes"] == 64 * 1024


# --- 5. central learns the online codes nodes hold ----------------------------------------------------

def test_central_never_issues_an_online_code_a_node_already_pushed(central, conn, clock, node):
    from central import online
    held = format_code(AGENCY, clock.now.date(), 9004)  # e.g. handed down before central was restored
    state = forged_state(node, held, AGENCY)
    state.update(status=1, channel="online",
                 received_at=None, due_at=None, original_due_at=None)
    node.append("dossier.registered", held, {"dossier": state, "feed_seq": 3})
    assert node.push(central).status_code == 200
    assert row(conn, held) is not None and anomalies(conn) == []
    procedure = row(conn, held)["procedure_code"]
    issued, _entry = online.register(conn, node=AGENCY, procedure_code=procedure, applicant=ATTACKER_APPLICANT,
                                     documents=[{"name": "Tờ khai", "kind": "original", "count": 1}],
                                     return_method="desk", actor="admin", now=clock.now)
    assert issued["code"] == format_code(AGENCY, clock.now.date(), 9005)


def test_an_event_holding_a_nul_character_is_refused_with_a_clear_code_on_either_engine_and_nothing_is_stored(
        central, central_app, conn, clock, node):
    nul = format_code(AGENCY, clock.now.date(), 1)
    state = forged_state(node, nul, AGENCY)
    state["applicant"]["address"] = "Thôn\x00 Đông"  # PostgreSQL's text and jsonb cannot hold U+0000
    creation_for(node, nul, state)
    reply = node.push(central)
    assert reply.status_code == 400  # not a 500 the node would meet at every retry
    error = open_reply(central_app, reply)["error"]
    assert error["code"] == "bad_payload" and "NUL" in error["message"]
    assert stored_seqs(conn) == [] and row(conn, nul) is None
    node.events.clear()  # the same node, its chain started anew without that event
    state["applicant"]["address"] = r"Thôn \u0000"  # a backslash and "u0000" typed as text: no NUL
    creation_for(node, nul, state)
    assert node.push(central).status_code == 200 and stored_seqs(conn) == [1]


@pytest.mark.parametrize("wire_format", ["v1", "v2"])
def test_an_event_holding_a_lone_surrogate_is_refused_with_a_clear_code_and_nothing_is_stored(
        central, central_app, conn, clock, node, wire_format):
    import gzip

    from protocol import keys, wire2
    from protocol import sync as wire
    from protocol.canonical import canonical_json
    from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER
    code = node.receive()
    node.append("dossier.note", code, {"text": "MARK"})
    payload = node.payload(events=node.events, pending=0, oldest_pending_at=None)
    if wire_format == "v1":
        raw = canonical_json(payload)
        body, headers = gzip.compress(raw.replace(b"MARK", b"\\ud800")), {"Content-Encoding": "gzip"}
    else:
        raw = canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(node.events, node.agency)))
        body, headers = wire2.compress(raw.replace(b"MARK", b"\\ud800")), {"Content-Encoding": wire2.ENCODING}
        headers[wire2.BATCH_SIGNATURE_HEADER] = keys.sign(node.key, canonical_json(payload))
    signed = gzip.decompress(body) if wire_format == "v1" else raw.replace(b"MARK", b"\\ud800")
    reply = central.post(wire.PUSH, data=body, headers={NODE_HEADER: AGENCY, "Content-Type": "application/json",
                                                        SIGNATURE_HEADER: keys.sign(node.key, signed), **headers})
    assert reply.status_code == 400  # (a signed body that no text can hold: not a 500 at every retry)
    error = open_reply(central_app, reply)["error"]
    assert error["code"] == "bad_json" and "lone surrogate" in error["message"]
    assert stored_seqs(conn) == [] and row(conn, code) is None
