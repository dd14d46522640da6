from datetime import timedelta

from protocol import keys
from protocol import sync as wire
from protocol.events import GENESIS
from tests.central.conftest import AGENCY, OTHER_AGENCY, FakeNode, add_node, central_public, open_reply


def test_a_node_enrols_with_its_one_time_code_and_both_sides_see_the_same_fingerprints(central, central_app,
                                                                                        conn, clock):
    code = add_node(conn, clock)
    fake = FakeNode(clock)
    response = fake.enrol(central, code)
    assert response.status_code == 200
    reply = open_reply(central_app, response)
    assert reply["node"] == AGENCY and reply["agency_name"] == "UBND xã Hòa Bình"
    assert reply["recovery"] is False and reply["request"] == wire.enrol_request_id(code)
    assert reply["head"] == {"seq": 0, "hash": GENESIS}
    assert reply["central_public_key"] == keys.public_b64(central_public(central_app))
    assert reply["central_fingerprint"] == keys.fingerprint(reply["central_public_key"])
    assert reply["node_fingerprint"] == keys.fingerprint(keys.public_b64(fake.key))
    assert reply["central_time"] == clock.now.isoformat()
    row = conn.execute("SELECT status FROM nodes WHERE id = ?", (AGENCY,)).fetchone()
    assert row["status"] == "active"


def test_an_enrolment_code_is_typed_loosely_but_works_only_once(central, conn, clock):
    code = add_node(conn, clock)
    assert len(code) == 11 and code[5] == "-"
    assert FakeNode(clock).enrol(central, code.lower().replace("-", " ")).status_code == 200
    second = FakeNode(clock).enrol(central, code)
    assert second.status_code == 403
    assert second.headers["X-Motcua-Signature"]


def test_an_expired_code_is_refused(central, central_app, conn, clock):
    code = add_node(conn, clock)
    clock.advance(minutes=61)
    response = FakeNode(clock).enrol(central, code)
    assert response.status_code == 403
    assert open_reply(central_app, response)["error"]["code"] == "code_expired"


def test_a_code_for_another_agency_is_refused(central, central_app, conn, clock):
    add_node(conn, clock, OTHER_AGENCY, "UBND xã Khác")
    code = add_node(conn, clock)
    response = FakeNode(clock, OTHER_AGENCY).enrol(central, code, agency=OTHER_AGENCY)
    assert response.status_code == 403
    assert open_reply(central_app, response)["error"]["code"] == "wrong_agency"
    assert FakeNode(clock).enrol(central, code).status_code == 200  # the refusal did not spend the code


def test_an_unknown_code_is_refused_with_a_sealed_error(central, central_app):
    response = FakeNode(None).enrol(central, "AAAAA-BBBBB")
    assert response.status_code == 403
    assert open_reply(central_app, response)["error"]["code"] == "invalid_code"


def test_recovery_revokes_the_old_key_and_the_node_continues_from_central_s_head(central, central_app, conn,
                                                                                  clock, node):
    from central.store import nodes
    node.receive()
    assert node.push(central).status_code == 200
    code, _expires = nodes.recovery_code(conn, AGENCY, now=clock.now, minutes=60)
    new_key = keys.generate()
    old_key, node.key = node.key, new_key
    reply = open_reply(central_app, node.enrol(central, code))
    assert reply["recovery"] is True and reply["head"]["seq"] == 1
    node.key = old_key
    refused = node.push(central)
    assert refused.status_code == 401
    assert open_reply(central_app, refused)["error"]["code"] == "bad_signature"
    node.key = new_key
    node.receive()
    assert open_reply(central_app, node.push(central))["accepted"] == 1


def test_a_revoked_node_is_refused_until_it_recovers(central, central_app, conn, clock, node):
    from central.store import nodes
    nodes.revoke(conn, AGENCY, now=clock.now)
    response = node.push(central)
    assert response.status_code == 403
    assert open_reply(central_app, response)["error"]["code"] == "revoked"
    code, _ = nodes.recovery_code(conn, AGENCY, now=clock.now + timedelta(minutes=1), minutes=60)
    assert node.enrol(central, code).status_code == 200
    assert node.push(central).status_code == 200
