"""Online dossiers registered at central (web form or API, as the national portal would) and handed
down to a commune through its signed feed, with codes from central's reserved 9001-9999 range."""
from __future__ import annotations

import json
import re

from domain import workflow
from domain.codes import ONLINE_FIRST, parse_code
from domain.dossier import apply_event
from protocol import sync as wire
from tests.central.conftest import AGENCY, APPLICANT, OTHER_AGENCY, add_node, enrolled, open_reply, push, text, token

PROCEDURE = "1.001193"
BODY = {"node": AGENCY, "procedure_code": PROCEDURE, "applicant": APPLICANT,
        "documents": [{"name": "Tờ khai đăng ký khai sinh", "kind": "original", "count": 1}],
        "return_method": "post"}


def register(web_app, db, clock, body=None, user="admin"):
    return web_app.test_client().post("/api/v1/online-dossiers", json=body or BODY, headers=token(db, clock, user))


def handed_down(db, node=AGENCY) -> list[dict]:
    return [json.loads(r["body"]) for r in db.execute(
        "SELECT body FROM feed WHERE node = ? AND type = 'dossier.handed_down' ORDER BY seq", (node,))]


def test_the_api_hands_down_a_status_1_dossier_with_a_code_from_the_online_range(web_app, db, clock):
    enrolled(web_app, db, clock)
    response = register(web_app, db, clock)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["code"] == f"{AGENCY}-260105-{ONLINE_FIRST}" == "000.00.06.H56-260105-9001"
    entries = handed_down(db)
    assert len(entries) == 1 and entries[0]["seq"] == body["feed_seq"] and entries[0]["dossier"] == body["code"]
    state = entries[0]["data"]["dossier"]
    assert state == body["dossier"]
    assert (state["status"], state["channel"], state["agency"], state["holder"]) == (1, "online", AGENCY, "node")
    assert state["received_at"] is None and state["due_at"] is None  # the clock starts when the clerk accepts
    assert state["catalogue_version"] == 1 and state["procedure_code"] == PROCEDURE
    # the same domain action as the desk: replaying it gives a valid dossier
    assert apply_event(None, {"type": "dossier.registered", "data": {"dossier": state}, "at": state["created_at"],
                              "dossier": state["code"]})["status"] == 1
    # central does not make the row itself: it follows the node's own event
    assert db.execute("SELECT COUNT(*) FROM dossiers").fetchone()[0] == 0


def test_codes_count_up_per_agency_and_day_and_restart_the_next_day(web_app, db, clock):
    enrolled(web_app, db, clock)
    enrolled(web_app, db, clock, OTHER_AGENCY, "UBND xã Bình An")
    codes = [register(web_app, db, clock).get_json()["code"] for _ in range(2)]
    codes.append(register(web_app, db, clock, dict(BODY, node=OTHER_AGENCY)).get_json()["code"])
    clock.advance(days=1)
    codes.append(register(web_app, db, clock).get_json()["code"])
    assert [(parse_code(c)[0], parse_code(c)[2]) for c in codes] == [
        (AGENCY, 9001), (AGENCY, 9002), (OTHER_AGENCY, 9001), (AGENCY, 9001)]
    assert codes[-1].endswith("-260106-9001")


def test_a_refused_registration_changes_nothing_and_burns_no_number(web_app, db, clock):
    enrolled(web_app, db, clock)
    bad = register(web_app, db, clock, dict(BODY, applicant=dict(APPLICANT, phone="12345", id_number="abc")))
    assert bad.status_code == 422
    error = bad.get_json()["error"]
    assert error["code"] == "validation_failed" and {"phone", "id_number"} <= set(error["fields"])
    assert "10 chữ số" in error["fields"]["phone"]
    assert register(web_app, db, clock, dict(BODY, procedure_code="KHONG-CO")).get_json()["error"]["fields"] == \
        {"procedure_code": "Chọn thủ tục trong danh mục đã xuất bản."}
    assert handed_down(db) == []
    assert register(web_app, db, clock).get_json()["code"].endswith("-9001")


def test_only_an_active_commune_can_receive_an_online_dossier(web_app, db, clock):
    add_node(db, clock, OTHER_AGENCY, "UBND xã Chưa Kết Nối")
    for node in (OTHER_AGENCY, "000.00.99.H56"):
        response = register(web_app, db, clock, dict(BODY, node=node))
        assert response.status_code == 422 and "node" in response.get_json()["error"]["fields"]
    assert db.execute("SELECT COUNT(*) FROM feed WHERE type = 'dossier.handed_down'").fetchone()[0] == 0


def test_a_viewer_token_or_no_token_cannot_register(web_app, db, clock):
    enrolled(web_app, db, clock)
    refused = register(web_app, db, clock, user="minh")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    anonymous = web_app.test_client().post("/api/v1/online-dossiers", json=BODY)
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "unauthorized"
    bad_json = web_app.test_client().post("/api/v1/online-dossiers", data="x", headers=token(db, clock))
    assert bad_json.status_code == 400 and bad_json.get_json()["error"]["code"] == "bad_request"
    assert handed_down(db) == []


def test_the_node_receives_it_in_its_feed_and_central_s_row_follows_the_node_s_events(web_app, db, clock, admin):
    from tests.central.conftest import CALENDAR
    node = enrolled(web_app, db, clock)
    code = register(web_app, db, clock).get_json()["code"]
    assert "Chờ xã đồng bộ" in text(admin.get("/truc-tuyen"))
    # the node pulls its feed and applies the entry as its own dossier.registered event (node/feed.py)
    reply = open_reply(web_app, node.post(web_app.test_client(), wire.FEED, node.payload(after=0)))
    entry = next(e for e in reply["entries"] if e["type"] == "dossier.handed_down")
    state = entry["data"]["dossier"]
    event = node.append("dossier.registered", code, {"dossier": state, "feed_seq": entry["seq"]},
                        actor=f"central:{entry['actor']}")
    node.states[code] = apply_event(None, event)
    clock.advance(hours=1)
    from domain.catalogue import load_sample_catalogue
    procedure = next(p for p in load_sample_catalogue()[1] if p.code == PROCEDURE)
    change = workflow.accept_online(node.states[code], {}, clock.now, CALENDAR, procedure)
    node.states[code] = apply_event(node.states[code], node.append(change.type, code, change.data))
    push(web_app, node)
    row = db.execute("SELECT status, channel, received_at, due_at FROM dossiers WHERE code = ?", (code,)).fetchone()
    assert (row["status"], row["channel"], row["received_at"]) == (2, "online", "2026-01-05T10:00:00")
    assert row["due_at"]
    page = text(admin.get("/truc-tuyen"))
    assert f'href="/ho-so/{code}"' in page and "2. Được tiếp nhận" in page
    assert "Đăng ký trực tuyến tại cấp trên" in text(admin.get(f"/ho-so/{code}"))


def test_an_admin_registers_an_online_dossier_from_the_web_form(web_app, db, clock, admin, viewer):
    enrolled(web_app, db, clock)
    page = text(admin.get("/truc-tuyen"))
    assert 'id="online-form"' in page and f'data-procedure="{PROCEDURE}"' in page
    assert 'id="online-form"' not in text(viewer.get("/truc-tuyen"))
    form = {"node": AGENCY, "procedure_code": PROCEDURE, "name": "Trần Thị Bình", "id_number": "001303004568",
            "phone": "0987654321", "address": "Thôn Tây", "email": "", "return_method": "desk",
            f"doc:{PROCEDURE}:0": "Tờ khai đăng ký khai sinh", f"kind:{PROCEDURE}:0": "original",
            f"count:{PROCEDURE}:0": "1",
            "doc:OTHER:0": "Giấy tờ của thủ tục khác", "kind:OTHER:0": "copy", "count:OTHER:0": "1"}
    invalid = admin.post("/truc-tuyen", data=dict(form, phone="123"))
    assert invalid.status_code == 400 and "10 chữ số" in text(invalid) and handed_down(db) == []
    response = admin.post("/truc-tuyen", data=form, follow_redirects=True)
    assert "000.00.06.H56-260105-9001" in text(response)
    state = handed_down(db)[0]["data"]["dossier"]
    assert state["documents"] == [{"name": "Tờ khai đăng ký khai sinh", "kind": "original", "count": 1}]
    assert state["applicant"]["name"] == "Trần Thị Bình" and state["return_method"] == "desk"
    assert re.search(r"9001.*?Chờ xã đồng bộ", text(admin.get("/truc-tuyen")), re.S)
    listed = web_app.test_client().get("/api/v1/online-dossiers", headers=token(db, clock)).get_json()
    assert [(d["code"], d["source"], d["status"]) for d in listed["online_dossiers"]] == \
        [("000.00.06.H56-260105-9001", "web", None)]
