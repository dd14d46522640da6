from domain import workflow
from domain.catalogue import parse_procedure
from protocol import sync as wire
from protocol.events import GENESIS, Head, verify_chain
from tests.central.conftest import AGENCY, OTHER_AGENCY, FakeNode, add_node, open_reply


def pull(central, central_app, node, after=0, limit=None):
    payload = node.payload(after=after) if limit is None else node.payload(after=after, limit=limit)
    response = node.post(central, wire.FEED, payload)
    assert response.status_code == 200
    return open_reply(central_app, response)


def test_enrolment_does_not_resend_the_catalogue_and_calendar_that_init_shipped(central, central_app, conn, node):
    reply = pull(central, central_app, node)
    assert reply["entries"] == [] and reply["head"]["seq"] == 0
    versions = conn.execute("SELECT catalogue_version, calendar_version FROM nodes WHERE id = ?", (AGENCY,)).fetchone()
    assert tuple(versions) == (1, 1)  # recorded as the node's: a later publish starts from there


def test_a_reference_version_other_than_the_shipped_one_reaches_a_node_enrolling_later(central, central_app, conn,
                                                                                      clock, node):
    from appshell.sqlite import write_tx
    from central import feed
    from central.store import nodes
    add_node(conn, clock, OTHER_AGENCY, "UBND xã Chưa Đăng Ký")
    procedures = feed.sample_reference()["catalogue"][1]["procedures"][:3]
    with write_tx(conn):
        feed.publish(conn, "catalogue", 2, {"procedures": procedures}, now=clock.now)
    late = FakeNode(clock, OTHER_AGENCY)
    code, _ = nodes.recovery_code(conn, OTHER_AGENCY, now=clock.now, minutes=60)
    assert late.enrol(central, code).status_code == 200
    reply = pull(central, central_app, late)
    entries = reply["entries"]
    assert [(e["type"], e["data"]["version"]) for e in entries] == [("catalogue.published", 2)]
    assert verify_chain(entries, Head(0, GENESIS), node=wire.FEED_NODE) == Head(reply["head"]["seq"],
                                                                                reply["head"]["hash"])
    assert [parse_procedure(p).code for p in entries[0]["data"]["procedures"]] == [p["code"] for p in procedures]


def test_publishing_a_new_version_extends_every_active_node_s_chain(central, central_app, conn, clock, node):
    from appshell.sqlite import write_tx
    from central import feed
    add_node(conn, clock, OTHER_AGENCY, "UBND xã Chưa Đăng Ký")  # pending: gets it at enrolment instead
    before = pull(central, central_app, node)
    body = {"entries": [{"date": "2026-09-02", "kind": "holiday", "name": "Quốc khánh"}]}
    with write_tx(conn):
        assert feed.publish(conn, "calendar", 2, body, now=clock.now) == 1
    after = pull(central, central_app, node, after=before["head"]["seq"])
    assert [e["data"]["version"] for e in after["entries"]] == [2]
    verify_chain(after["entries"], Head(before["head"]["seq"], before["head"]["hash"]), node=wire.FEED_NODE)
    late = FakeNode(clock, OTHER_AGENCY)
    from central.store import nodes
    code, _ = nodes.recovery_code(conn, OTHER_AGENCY, now=clock.now, minutes=60)
    assert late.enrol(central, code).status_code == 200
    versions = [(e["type"], e["data"]["version"]) for e in pull(central, central_app, late)["entries"]]
    assert versions == [("calendar.published", 2)]  # catalogue 1 is the one init shipped


def test_a_version_that_is_not_newer_is_refused(conn, clock, node):
    import pytest

    from appshell.sqlite import write_tx
    from central import feed
    with pytest.raises(feed.PublishError), write_tx(conn):
        feed.publish(conn, "catalogue", 1, {"procedures": []}, now=clock.now)


def test_the_feed_is_paged(central, central_app, conn, clock, node):
    from appshell.sqlite import write_tx
    from central import feed
    with write_tx(conn):
        for version in (2, 3):
            feed.publish(conn, "calendar", version, {"entries": []}, now=clock.now)
    first = pull(central, central_app, node, limit=1)
    assert [e["seq"] for e in first["entries"]] == [1]
    assert [e["seq"] for e in pull(central, central_app, node, after=1, limit=1)["entries"]] == [2]


def hand_up(central, node):
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    node.act(code, workflow.hand_up, {"to_unit": "UBND huyện", "note": "Cần cấp trên quyết định"})
    assert node.push(central).status_code == 200
    return code


def admin_token(conn, clock, role="admin"):
    from appshell import accounts
    from central import roles
    account = accounts.by_name(conn, "admin") if role == "admin" else accounts.create(
        conn, "minh", "Viewer-pass-2026", "viewer", "", clock.now, roles=roles.ROLES)
    return {"Authorization": "Bearer " + accounts.create_token(conn, account, "test", clock.now,
                                                               prefix=roles.TOKEN_PREFIX)}


def test_hand_back_appends_a_feed_entry_that_the_node_can_apply(central, central_app, conn, clock, node):
    from domain.dossier import apply_event
    code = hand_up(central, node)
    assert conn.execute("SELECT holder FROM dossiers WHERE code = ?", (code,)).fetchone()[0] == "central"
    clock.advance(hours=2)
    response = central.post(f"/api/v1/dossiers/{code}/hand-back", headers=admin_token(conn, clock),
                            json={"outcome": "resolve", "result_note": "Đã cấp phép", "note": "Xong"})
    assert response.status_code == 201, response.get_json()
    entries = pull(central, central_app, node)["entries"]
    entry = entries[-1]
    assert entry["type"] == "dossier.handed_back" and entry["dossier"] == code and entry["actor"] == "admin"
    data = dict(entry["data"])
    assert data.pop("code") == code
    # The node applies it as its own event; central's row follows from the node's push.
    node.append("dossier.handed_back", code, data)
    node.states[code] = apply_event(node.states[code], node.events[-1])
    assert node.states[code]["status"] == 9 and node.states[code]["holder"] == "node"
    assert central.get(f"/api/v1/dossiers/{code}", headers=admin_token(conn, clock)).get_json()[
        "dossier"]["holder"] == "central"
    node.push(central)
    row = conn.execute("SELECT status, holder FROM dossiers WHERE code = ?", (code,)).fetchone()
    assert tuple(row) == (9, "node")


def test_a_second_hand_back_waits_for_the_node_to_apply_the_first(central, conn, clock, node):
    from central import handback
    code = hand_up(central, node)
    handback.hand_back(conn, code, {"outcome": "return"}, "admin", clock.now)
    import pytest
    with pytest.raises(handback.NotHeld):
        handback.hand_back(conn, code, {"outcome": "resolve"}, "admin", clock.now)


def test_hand_back_is_refused_for_a_dossier_central_does_not_hold(central, conn, clock, node):
    code = node.receive()
    node.push(central)
    headers = admin_token(conn, clock)
    response = central.post(f"/api/v1/dossiers/{code}/hand-back", headers=headers, json={"outcome": "resolve"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_held"
    missing = central.post("/api/v1/dossiers/000.00.06.H56-990101-0001/hand-back", headers=headers,
                           json={"outcome": "resolve"})
    assert missing.status_code == 404
    assert conn.execute("SELECT COUNT(*) FROM handbacks").fetchone()[0] == 0


def test_hand_back_needs_a_valid_outcome_and_an_admin(central, conn, clock, node):
    code = hand_up(central, node)
    bad = central.post(f"/api/v1/dossiers/{code}/hand-back", headers=admin_token(conn, clock),
                       json={"outcome": "maybe"})
    assert bad.status_code == 422
    viewer = central.post(f"/api/v1/dossiers/{code}/hand-back", headers=admin_token(conn, clock, "viewer"),
                          json={"outcome": "resolve"})
    assert viewer.status_code == 403
    assert central.post(f"/api/v1/dossiers/{code}/hand-back", json={"outcome": "resolve"}).status_code == 401


def test_the_node_list_shows_health_figures(central, conn, clock, node):
    node.receive()
    node.push(central)
    nodes = central.get("/api/v1/nodes", headers=admin_token(conn, clock, "viewer")).get_json()["nodes"]
    assert len(nodes) == 1
    row = nodes[0]
    assert row["id"] == AGENCY and row["status"] == "active" and row["head_seq"] == 1
    assert row["forks"] == 0 and row["anomalies"] == 0 and row["fingerprint"].count("-") == 4
    assert row["clock_offset_seconds"] == 0 and row["silent"] is False
    clock.advance(hours=25)
    later = central.get("/api/v1/nodes", headers=admin_token(conn, clock)).get_json()["nodes"][0]
    assert later["silent"] is True
