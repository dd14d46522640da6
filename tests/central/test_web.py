"""Central's web product through the Flask test client on a real central data folder (real SQLite).

Login, CSRF, lockout and rate limit, roles, the overview (figures from domain.reports, sync
health, the silent flag, versions behind), dossier search with masked ID numbers and the access
log, a dossier's signed history, the liên thông queue, nodes and accounts, and the JSON API.
"""
from __future__ import annotations

import re
from datetime import date

from central.store import reports as report_store
from domain import reports, workflow
from protocol import sync as wire
from tests.central.conftest import (
    AGENCY,
    APPLICANT,
    CENTRAL_ADMIN_PASSWORD,
    OTHER_ADMIN_PASSWORD,
    OTHER_AGENCY,
    VIEWER_PASSWORD,
    FakeNode,
    add_node,
    enrolled,
    login,
    open_reply,
    push,
    text,
    token,
)


def plain(response) -> str:
    """The page's visible text, tags removed and spaces collapsed."""
    import html
    body = re.sub(r"<(script|style)\b.*?</\1>", "", text(response), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def table(page: str, table_id: str) -> str:
    found = re.search(rf'<table[^>]*id="{table_id}">(.*?)</table>', page, re.S)
    return found.group(1) if found else ""


def handed_up(node: FakeNode) -> str:
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    node.act(code, workflow.hand_up, {"to_unit": "UBND tỉnh", "note": "Đất đai cấp tỉnh"})
    return code


# --- login, sessions, CSRF, lockout, roles -------------------------------------------------------

def test_every_page_sends_an_anonymous_visitor_to_the_login_page(web_app):
    client = web_app.test_client()
    for path in ("/", "/ho-so", "/lien-thong", "/truc-tuyen", "/xuat-ban", "/don-vi", "/quan-tri/nguoi-dung"):
        response = client.get(path)
        assert response.status_code == 302 and "/dang-nhap" in response.headers["Location"], path
    assert client.get("/dang-nhap").status_code == 200


def test_an_admin_logs_in_with_a_httponly_samesite_session_cookie_and_logs_out(web_app):
    client = web_app.test_client()
    response = login(client)
    cookie = response.headers["Set-Cookie"]
    assert response.status_code == 302 and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "motcua_central_session" in cookie
    assert "Quản trị viên" in text(client.get("/"))
    assert client.post("/dang-xuat").status_code == 302
    assert client.get("/").status_code == 302


def test_a_wrong_password_is_refused_in_vietnamese(web_app):
    response = login(web_app.test_client(), password="wrong-password-1")
    assert response.status_code == 401 and "không đúng" in text(response)


def test_a_form_without_its_csrf_token_is_refused_and_with_it_accepted(central_dir, clock):
    from central.app import create_app
    app = create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True})
    client = app.test_client()
    refused = client.post("/dang-nhap", data={"username": "admin", "password": CENTRAL_ADMIN_PASSWORD})
    assert refused.status_code == 400 and "Phiên làm việc đã hết hạn" in text(refused)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/dang-nhap"))).group(1)
    accepted = client.post("/dang-nhap", data={"username": "admin", "password": CENTRAL_ADMIN_PASSWORD,
                                               "csrf_token": csrf})
    assert accepted.status_code == 302
    # a logged-in admin's form without the token is refused too: nothing is created
    refused = client.post("/quan-tri/nguoi-dung", data={"username": "lan", "password": "Lan-pass-2026",
                                                        "role": "viewer"})
    assert refused.status_code == 400
    assert "lan" not in plain(client.get("/quan-tri/nguoi-dung")).split()


def test_sync_and_api_posts_need_no_csrf_token_they_are_signed_or_carry_a_bearer_token(central_dir, clock):
    from central.app import create_app
    from central.db import connect
    app = create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True})
    conn = connect(app.config["DATABASE"])
    node = FakeNode(clock)
    assert node.enrol(app.test_client(), add_node(conn, clock)).status_code == 200
    node.receive()
    assert node.push(app.test_client()).status_code == 200
    response = app.test_client().post("/api/v1/online-dossiers", json={}, headers=token(conn, clock))
    assert response.status_code == 422  # validated, not refused for want of a CSRF token
    conn.close()


def test_repeated_wrong_passwords_lock_the_account(web_app):
    client = web_app.test_client()
    for _ in range(5):
        assert login(client, "minh", "wrong-password-1").status_code == 401
    response = login(client, "minh", VIEWER_PASSWORD)
    assert response.status_code == 401 and "tạm khóa" in text(response)


def test_logins_from_one_address_are_rate_limited(web_app):
    client = web_app.test_client()
    for i in range(30):
        assert login(client, f"nobody{i}", "wrong-password-1").status_code == 401
    response = login(client)  # even the right password, from this address, for a while
    assert response.status_code == 429 and "Quá nhiều lần" in text(response)


def test_a_disabled_account_s_open_session_ends(web_app, db, viewer):
    from appshell import accounts
    accounts.set_active(db, accounts.by_name(db, "minh").id, False)
    assert viewer.get("/").status_code == 302


def test_a_viewer_sees_but_cannot_publish_hand_back_register_enrol_or_manage_accounts(web_app, db, clock, viewer):
    node = enrolled(web_app, db, clock)
    code = handed_up(node)
    push(web_app, node)
    for path in ("/", "/ho-so?q=nguyen", f"/ho-so/{code}", "/lien-thong", "/truc-tuyen", "/xuat-ban", "/don-vi"):
        assert viewer.get(path).status_code == 200, path
    assert "hand-back-form" not in text(viewer.get(f"/ho-so/{code}"))
    forbidden = [
        ("/xuat-ban/thu-tuc/moi", {}), ("/xuat-ban/catalogue/xuat-ban", {}), ("/xuat-ban/lich", {"date": "2026-09-03"}),
        (f"/lien-thong/{code}/tra-ve", {"decision": "resolve"}),
        (f"/lien-thong/{code}/phan-cong", {"username": "minh"}),
        ("/truc-tuyen", {"node": AGENCY}), ("/don-vi", {"agency": OTHER_AGENCY, "name": "UBND xã B"}),
        (f"/don-vi/{AGENCY}/thu-hoi", {}), (f"/don-vi/{AGENCY}/ma-khoi-phuc", {}),
        ("/quan-tri/nguoi-dung", {"username": "x", "password": "Xx-pass-2026", "role": "admin"}),
    ]
    for path, data in forbidden:
        response = viewer.post(path, data=data)
        assert response.status_code == 403 and "Không có quyền" in text(response), path
    assert viewer.get("/quan-tri/nguoi-dung").status_code == 403
    assert db.execute("SELECT COUNT(*) FROM handbacks").fetchone()[0] == 0
    assert db.execute("SELECT MAX(version) FROM reference WHERE kind = 'catalogue'").fetchone()[0] == 1
    assert db.execute("SELECT status FROM nodes WHERE id = ?", (AGENCY,)).fetchone()[0] == "active"


def test_pages_load_nothing_from_the_internet_and_forbid_inline_scripts(web_app, db, clock, admin):
    node = enrolled(web_app, db, clock)
    code = handed_up(node)
    push(web_app, node)
    for path in ("/", "/dang-nhap", "/ho-so?q=nguyen", f"/ho-so/{code}", "/lien-thong", "/truc-tuyen", "/xuat-ban",
                 "/xuat-ban/lich", "/xuat-ban/thu-tuc/1.001193", "/don-vi", f"/don-vi/{AGENCY}",
                 "/quan-tri/nguoi-dung"):
        response = admin.get(path)
        body = text(response)
        assert response.status_code == 200, path
        external = re.findall(r"""(?:src|href|action)=["'](https?://[^"']+)""", body)
        assert not external, (path, external)
        assert not re.search(r"<script>(?!</script>)|<script(?![^>]*\bsrc=)[^>]*>", body), path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    assert admin.get("/static/style.css").status_code == 200 and admin.get("/static/app.js").status_code == 200


def test_an_unknown_page_is_a_vietnamese_404_and_an_unknown_api_path_a_json_404(admin):
    response = admin.get("/ho-so/000.00.06.H56-260105-9999")
    assert response.status_code == 404 and "Không tìm thấy" in text(response) and "Traceback" not in text(response)
    response = admin.get("/api/v1/khong-co")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


# --- the overview ---------------------------------------------------------------------------------

def _mixed_dossiers(node: FakeNode, clock):
    """Four dossiers: one resolved early, one resolved late, one pending within its limit, one overdue."""
    early = node.receive()
    node.act(early, workflow.start_processing, {})
    node.act(early, workflow.resolve, {})
    late = node.receive()
    overdue = node.receive()
    for code in (late, overdue):
        node.act(code, workflow.start_processing, {})
    clock.advance(days=20)
    node.act(late, workflow.resolve, {})
    node.receive()  # received now: pending within its limit
    return early, late, overdue


def test_the_overview_has_one_row_per_commune_with_the_report_module_s_figures(web_app, db, clock, admin):
    first = enrolled(web_app, db, clock)
    second = enrolled(web_app, db, clock, OTHER_AGENCY, "UBND xã Bình An")
    add_node(db, clock, "000.00.09.H56", "UBND xã Chưa Kết Nối")
    _mixed_dossiers(first, clock)
    second.receive()
    push(web_app, first)
    push(web_app, second)
    page = text(admin.get("/?from=2026-01-01&to=2026-01-31"))
    assert page.count('data-node="') == 3 and "chưa kết nối" in page
    expected = report_store.figures(db, reports.Period(date(2026, 1, 1), date(2026, 1, 31)), clock.now, key=("agency",))
    figures = expected.groups[(AGENCY,)]
    assert (figures.received, figures.resolved_early, figures.resolved_late, figures.pending_within,
            figures.pending_overdue) == (4, 1, 1, 1, 1)
    row = re.search(rf'<tr class="[^"]*" data-node="{re.escape(AGENCY)}">(.*?)</tr>', page, re.S).group(1)
    numbers = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<td class="num[^"]*">(.*?)</td>', row, re.S)]
    assert numbers[:8] == ["4", "0", "1", "0", "1", "1", "1", "0"]
    assert f"{figures.on_time_rate * 100:.1f}".replace(".", ",") + "%" in row  # 2 on time of 4 handled
    assert figures.on_time_rate == 0.5
    fingerprint = db.execute("SELECT fingerprint FROM node_keys WHERE node = ?", (AGENCY,)).fetchone()[0]
    assert fingerprint in row


def test_the_overview_shows_sync_health_as_the_node_last_reported_it(web_app, db, clock, admin):
    node = enrolled(web_app, db, clock)
    for _ in range(3):
        node.receive()
    clock.advance(minutes=30)
    # one batch of one event; the node says it had 3 to send, the oldest unsent one from 30 minutes ago
    payload = node.payload(events=node.events[:1], pending=3, oldest_pending_at=node.events[1]["at"])
    assert node.post(web_app.test_client(), wire.PUSH, payload).status_code == 200
    row = re.search(rf'data-node="{re.escape(AGENCY)}">(.*?)</tr>', text(admin.get("/")), re.S).group(1)
    assert re.search(r'<td class="num">2<br>', row)  # still to send after this batch
    assert "cũ nhất 30 phút" in row  # the oldest unsent event's age, on central's clock


def test_a_commune_silent_longer_than_the_setting_is_flagged(web_app, db, clock, admin):
    quiet = enrolled(web_app, db, clock)
    busy = enrolled(web_app, db, clock, OTHER_AGENCY, "UBND xã Bình An")
    clock.advance(hours=25)
    busy.receive()
    push(web_app, busy)
    page = text(admin.get("/"))
    quiet_row = re.search(rf'<tr class="([^"]*)" data-node="{re.escape(quiet.agency)}">(.*?)</tr>', page, re.S)
    busy_row = re.search(rf'<tr class="([^"]*)" data-node="{re.escape(busy.agency)}">(.*?)</tr>', page, re.S)
    assert "silent" in quiet_row.group(1) and "Mất liên lạc" in quiet_row.group(2)
    assert "silent" not in busy_row.group(1) and "Mất liên lạc" not in busy_row.group(2)


def test_nodes_behind_the_latest_published_version_are_flagged(web_app, db, clock, admin):
    from central.store import publishing
    enrolled(web_app, db, clock)

    def row():
        return re.search(rf'data-node="{re.escape(AGENCY)}">(.*?)</tr>', text(admin.get("/")), re.S).group(1)
    assert "chưa rõ" in row()  # the node has not said which feed entries it applied
    # what the node's feed request states ("after": the head it applied) is recorded by the feed endpoint
    # 0 when the feed is empty: init shipped version 1, which the feed does not send again
    head = db.execute("SELECT COALESCE(MAX(seq), 0) FROM feed WHERE node = ?", (AGENCY,)).fetchone()[0]
    db.execute("UPDATE nodes SET feed_applied_seq = ? WHERE id = ?", (head, AGENCY))
    assert "chậm" not in row() and "chưa rõ" not in row()
    publishing.publish_body(db, "calendar", {"entries": [{"date": "2026-09-03", "kind": "substitute",
                                                          "name": "Nghỉ bù"}]}, actor="admin", now=clock.now)
    assert "chậm" in row()  # v2 is queued in its feed, v1 still applied
    api = admin.application.test_client().get("/api/v1/overview", headers=token(db, clock)).get_json()
    assert api["nodes"][0]["reference"]["calendar"] == {"applied": 1, "queued": 2, "published": 2, "behind": True}
    db.execute("UPDATE nodes SET feed_applied_seq = ? WHERE id = ?", (head + 1, AGENCY))
    assert "chậm" not in row()


def test_the_overview_filters_by_period_field_and_commune(web_app, db, clock, admin):
    from domain.catalogue import load_sample_catalogue
    procedures = load_sample_catalogue()[1]
    hotich = next(p for p in procedures if p.field == "Hộ tịch" and p.limit_unit != "same_day")
    datdai = next(p for p in procedures if p.field == "Đất đai")
    first = enrolled(web_app, db, clock)
    second = enrolled(web_app, db, clock, OTHER_AGENCY, "UBND xã Bình An")
    first.receive(hotich)
    first.receive(datdai)
    second.receive(hotich)
    push(web_app, first)
    push(web_app, second)

    def received(query):
        page = text(admin.get("/" + query))
        return {m.group(1): m.group(2) for m in re.finditer(
            r'data-node="([^"]+)">.*?<td class="num sep">([^<]*)</td>', page, re.S)}
    assert received("?from=2026-01-01&to=2026-01-31") == {AGENCY: "2", OTHER_AGENCY: "1"}
    assert received("?from=2026-01-01&to=2026-01-31&field=Đất đai") == {AGENCY: "1", OTHER_AGENCY: "0"}
    assert received(f"?from=2026-01-01&to=2026-01-31&node={OTHER_AGENCY}") == {OTHER_AGENCY: "1"}
    assert received("?from=2025-12-01&to=2025-12-31") == {AGENCY: "0", OTHER_AGENCY: "0"}
    response = admin.get("/?from=31-02-2026")
    assert response.status_code == 400 and "không hợp lệ" in text(response)


def test_the_overview_api_gives_the_same_figures_and_one_error_shape(web_app, db, clock):
    node = enrolled(web_app, db, clock)
    _mixed_dossiers(node, clock)
    push(web_app, node)
    client = web_app.test_client()
    body = client.get("/api/v1/overview?from=2026-01-01&to=2026-01-31", headers=token(db, clock)).get_json()
    expected = report_store.figures(db, reports.Period(date(2026, 1, 1), date(2026, 1, 31)), clock.now, key=("agency",))
    assert body["period"] == {"from": "2026-01-01", "to": "2026-01-31", "as_of": "2026-01-25T09:00:00"}
    assert body["nodes"][0]["id"] == AGENCY
    assert body["nodes"][0]["figures"] == expected.groups[(AGENCY,)].as_dict() == body["total"]
    assert body["nodes"][0]["sync"]["fingerprint"] and body["nodes"][0]["sync"]["silent"] is False
    viewer_body = client.get("/api/v1/overview?field=Hộ tịch", headers=token(db, clock, "minh")).get_json()
    assert viewer_body["filters"] == {"field": "Hộ tịch", "node": None}
    bad = client.get("/api/v1/overview?from=hôm-qua", headers=token(db, clock))
    assert bad.status_code == 422 and set(bad.get_json()["error"]) == {"code", "message", "fields"}
    assert bad.get_json()["error"]["code"] == "validation_failed"
    unauthorized = client.get("/api/v1/overview")
    assert unauthorized.status_code == 401 and unauthorized.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/overview", headers={"Authorization": "Bearer mcc_nope"}).status_code == 401


# --- dossiers across communes ---------------------------------------------------------------------

def _access(db, code):
    return [(r["username"], r["action"]) for r in db.execute(
        "SELECT username, action FROM access_log WHERE dossier = ? ORDER BY id", (code,))]


def test_search_finds_by_code_diacritic_free_name_and_id_number_with_masked_ids_and_logs_each_listing(
        web_app, db, clock, admin):
    first = enrolled(web_app, db, clock)
    second = enrolled(web_app, db, clock, OTHER_AGENCY, "UBND xã Bình An")
    code = first.receive()
    other = second.receive()
    push(web_app, first)
    push(web_app, second)
    for query in ("nguyen van dung", "Nguyễn Văn Dũng", "nguyen van d", "001203004567", code, code[-11:]):
        page = text(admin.get("/ho-so", query_string={"q": query}))
        results = re.search(r'<table class="list" id="results">(.*?)</table>', page, re.S).group(1)
        assert code in results, query
        assert "0012******67" in results and "001203004567" not in results, query
    assert other in text(admin.get("/ho-so?q=dung"))
    assert other not in text(admin.get(f"/ho-so?q=dung&node={AGENCY}"))
    assert "Không tìm thấy" in text(admin.get("/ho-so?q=tran+thi+xuan"))
    assert ("admin", "web.search") in _access(db, code)


def test_the_dossier_page_shows_every_event_with_its_signer_key_and_receipt_time_and_logs_the_view(
        web_app, db, clock, viewer):
    node = enrolled(web_app, db, clock)
    code = node.receive()
    push(web_app, node)
    clock.advance(hours=2)
    node.act(code, workflow.start_processing, {"handler": "hung", "note": "Chuyển anh Hùng"})
    push(web_app, node)
    response = viewer.get(f"/ho-so/{code}")
    page = text(response)
    history = re.search(r'<table class="list" id="history">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", history.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    fingerprint = db.execute("SELECT fingerprint FROM node_keys WHERE node = ?", (AGENCY,)).fetchone()[0]
    assert "Tiếp nhận hồ sơ" in rows[0] and "2. Được tiếp nhận" in rows[0]
    assert "Chuyển xử lý" in rows[1] and "2 → 4. Đang xử lý" in rows[1] and "Chuyển anh Hùng" in rows[1]
    assert all(fingerprint in r and AGENCY in r for r in rows)
    assert "09:00 05/01/2026" in rows[0] and "11:00 05/01/2026" in rows[1]  # when central received each
    assert "001203004567" in page  # the full record, for the person who opened it...
    assert _access(db, code) == [("minh", "web.view")]  # ...who is on record
    assert "web.view" in plain(viewer.get(f"/ho-so/{code}"))


def test_after_a_key_rotation_each_event_names_the_key_valid_when_central_received_it(web_app, db, clock, admin):
    from central.store import nodes
    from protocol import keys
    node = enrolled(web_app, db, clock)
    code = node.receive()
    push(web_app, node)
    old = keys.fingerprint(keys.public_b64(node.key))
    clock.advance(days=1)
    recovery, _ = nodes.recovery_code(db, AGENCY, now=clock.now, minutes=60)
    node.key = keys.generate()
    assert node.enrol(web_app.test_client(), recovery).status_code == 200
    new = keys.fingerprint(keys.public_b64(node.key))
    clock.advance(hours=1)
    node.act(code, workflow.start_processing, {})
    push(web_app, node)
    rows = re.findall(r'<td class="mono small fingerprint">([^<]+)</td>', text(admin.get(f"/ho-so/{code}")))
    assert rows == [old, new]


def test_the_dossier_api_search_masks_id_numbers_and_logs_the_listing(web_app, db, clock):
    node = enrolled(web_app, db, clock)
    code = node.receive()
    push(web_app, node)
    body = web_app.test_client().get("/api/v1/dossiers?q=nguyen+van+dung", headers=token(db, clock, "minh"))
    assert body.status_code == 200
    found = body.get_json()["dossiers"]
    assert [d["code"] for d in found] == [code] and found[0]["id_number"] == "0012******67"
    assert _access(db, code) == [("minh", "api.search")]
    missing = web_app.test_client().get("/api/v1/dossiers", headers=token(db, clock))
    assert missing.status_code == 422 and missing.get_json()["error"]["fields"] == {"q": "required"}
    one = web_app.test_client().get(f"/api/v1/dossiers/{code}", headers=token(db, clock)).get_json()
    assert one["dossier"]["applicant"]["id_number"] == APPLICANT["id_number"]


# --- the liên thông queue -------------------------------------------------------------------------

def test_the_queue_lists_handed_up_dossiers_and_an_admin_assigns_and_resolves_one(web_app, db, clock, admin):
    node = enrolled(web_app, db, clock)
    code = handed_up(node)
    kept = node.receive()
    push(web_app, node)
    queue = text(admin.get("/lien-thong"))
    assert code in queue and kept not in queue
    refused = admin.post(f"/lien-thong/{code}/phan-cong", data={"username": "minh"}, follow_redirects=True)
    assert "Chọn một tài khoản quản trị" in text(refused)  # a viewer cannot decide, so is never assigned
    assert admin.post(f"/lien-thong/{code}/phan-cong", data={"username": "thu"}).status_code == 303
    assert 'id="queue-empty"' in text(admin.get("/lien-thong?ai=chua"))
    assert 'id="queue-empty"' in text(admin.get("/lien-thong?ai=toi"))  # assigned to thu, not to admin
    thu = web_app.test_client()
    login(thu, "thu", OTHER_ADMIN_PASSWORD)
    assert code in table(text(thu.get("/lien-thong?ai=toi")), "queue")
    assert tuple(db.execute("SELECT username, assigned_by FROM assignments WHERE code = ?", (code,)).fetchone()) == \
        ("thu", "admin")
    response = admin.post(f"/lien-thong/{code}/tra-ve", data={"decision": "resolve", "result_note": "Giấy chứng nhận",
                                                             "receiver": "Lan"})
    assert response.status_code == 303
    entry = db.execute("SELECT type, dossier, body FROM feed WHERE node = ? ORDER BY seq DESC LIMIT 1",
                       (AGENCY,)).fetchone()
    assert (entry["type"], entry["dossier"]) == ("dossier.handed_back", code)
    queue = text(admin.get("/lien-thong"))
    assert 'id="queue-empty"' in queue and code in table(queue, "sent") and "Giải quyết xong" in table(queue, "sent")
    # a second decision is refused: one is already on its way to the node
    admin.post(f"/lien-thong/{code}/tra-ve", data={"decision": "return", "note": "x"})
    assert db.execute("SELECT COUNT(*) FROM handbacks WHERE code = ?", (code,)).fetchone()[0] == 1
    # the commune sees it on its next sync: its feed carries the decision, it applies and pushes it
    reply = open_reply(web_app, node.post(web_app.test_client(), "/api/v1/sync/feed", node.payload(after=0)))
    decision = reply["entries"][-1]
    assert decision["data"]["to"] == 9 and decision["data"]["set"]["result_note"] == "Giấy chứng nhận"
    node.append("dossier.handed_back", code, {**{k: v for k, v in decision["data"].items() if k != "code"},
                                               "feed_seq": decision["seq"]}, actor="central:admin")
    push(web_app, node)
    assert tuple(db.execute("SELECT status, holder FROM dossiers WHERE code = ?", (code,)).fetchone()) == (9, "node")
    assert code not in table(text(admin.get("/lien-thong")), "queue") + table(text(admin.get("/lien-thong")), "sent")
    assert "Đã nhận" in table(text(admin.get(f"/ho-so/{code}")), "feed")


def test_asking_for_a_supplement_returns_the_dossier_with_the_items_in_the_note(web_app, db, clock, admin):
    node = enrolled(web_app, db, clock)
    code = handed_up(node)
    push(web_app, node)
    missing = admin.post(f"/lien-thong/{code}/tra-ve", data={"decision": "supplement"}, follow_redirects=True)
    assert "Ghi rõ giấy tờ cần bổ sung" in text(missing)
    admin.post(f"/lien-thong/{code}/tra-ve", data={"decision": "supplement", "items": "Bản đồ thửa đất"})
    import json
    data = json.loads(db.execute("SELECT body FROM feed WHERE dossier = ?", (code,)).fetchone()[0])["data"]
    assert "to" not in data and data["set"]["holder"] == "node"  # "return": the desk continues, status stays 4
    assert data["note"] == "Yêu cầu bổ sung: Bản đồ thửa đất"
    assert db.execute("SELECT outcome FROM handbacks WHERE code = ?", (code,)).fetchone()[0] == "return"


def test_only_dossiers_central_holds_can_be_decided(web_app, db, clock, admin):
    node = enrolled(web_app, db, clock)
    code = node.receive()
    push(web_app, node)
    response = admin.post(f"/lien-thong/{code}/tra-ve", data={"decision": "resolve"}, follow_redirects=True)
    assert "không còn chờ cấp trên" in text(response)
    assert db.execute("SELECT COUNT(*) FROM feed WHERE dossier = ?", (code,)).fetchone()[0] == 0


# --- nodes and people -----------------------------------------------------------------------------

def test_an_admin_enrols_a_commune_with_a_one_time_code_its_expiry_and_central_s_fingerprint(web_app, db, clock,
                                                                                              admin):
    from central import keys
    response = admin.post("/don-vi", data={"agency": "000.00.10.h56", "name": "UBND xã Tân Lập"})
    page = text(response)
    code = re.search(r'<p class="secret mono" id="code">([^<]+)</p>', page).group(1)
    assert "10:00 05/01/2026" in page  # valid 60 minutes
    assert keys.fingerprint(web_app.extensions["motcua.central_key"]) in page
    assert "motcua-node enroll --data" in page and code in page
    node = FakeNode(clock, "000.00.10.H56")
    assert node.enrol(web_app.test_client(), code).status_code == 200
    listing = text(admin.get("/don-vi"))
    from protocol import keys as pkeys
    assert pkeys.fingerprint(pkeys.public_b64(node.key)) in listing and "Đang hoạt động" in listing
    again = admin.post("/don-vi", data={"agency": "000.00.10.H56", "name": "UBND xã Tân Lập"})
    assert again.status_code == 400 and "đã có" in text(again)
    bad = admin.post("/don-vi", data={"agency": "xa-tan-lap", "name": "UBND xã Tân Lập"})
    assert bad.status_code == 400 and "không đúng dạng" in text(bad)


def test_a_recovery_code_rotates_the_key_and_revoking_stops_pushes(web_app, db, clock, admin):
    from protocol import keys
    node = enrolled(web_app, db, clock)
    old = keys.fingerprint(keys.public_b64(node.key))
    page = text(admin.post(f"/don-vi/{AGENCY}/ma-khoi-phuc"))
    assert "thu hồi" in page  # the page says the current key is revoked when the code is used
    code = re.search(r'id="code">([^<]+)<', page).group(1)
    node.key = keys.generate()
    assert node.enrol(web_app.test_client(), code).status_code == 200
    detail = text(admin.get(f"/don-vi/{AGENCY}"))
    assert keys.fingerprint(keys.public_b64(node.key)) in detail and old in detail
    assert "thay khóa" in text(admin.get("/don-vi")).lower()
    assert admin.post(f"/don-vi/{AGENCY}/thu-hoi").status_code == 303
    node.receive()
    assert node.push(web_app.test_client()).status_code == 403
    assert "Đã thu hồi" in text(admin.get(f"/don-vi/{AGENCY}"))


def test_an_admin_adds_disables_and_issues_a_token_to_central_accounts(web_app, db, clock, admin):
    short = admin.post("/quan-tri/nguoi-dung", data={"username": "lan", "password": "short", "role": "viewer"})
    assert short.status_code == 400 and "ít nhất 10 ký tự" in text(short)
    assert admin.post("/quan-tri/nguoi-dung", data={"username": "lan", "full_name": "Ngô Thị Lan",
                                                    "password": "Lan-pass-2026", "role": "viewer"}).status_code == 303
    from appshell import accounts
    lan = accounts.by_name(db, "lan")
    assert lan.role == "viewer" and lan.full_name == "Ngô Thị Lan"
    page = text(admin.post(f"/quan-tri/nguoi-dung/{lan.id}/ma-api"))
    value = re.search(r"(mcc_[A-Za-z0-9_\-]+)", page).group(1)
    bearer = {"Authorization": f"Bearer {value}"}
    assert web_app.test_client().get("/api/v1/overview", headers=bearer).status_code == 200
    admin.post(f"/quan-tri/nguoi-dung/{lan.id}/trang-thai")
    assert login(web_app.test_client(), "lan", "Lan-pass-2026").status_code == 401
    assert web_app.test_client().get("/api/v1/overview", headers=bearer).status_code == 401
    me = accounts.by_name(db, "admin")
    admin.post(f"/quan-tri/nguoi-dung/{me.id}/trang-thai")
    assert accounts.by_name(db, "admin").active  # an admin cannot lock themself out


def test_central_s_public_identity_moved_to_the_api(web_app):
    body = web_app.test_client().get("/api/v1/central").get_json()
    assert body["name"] == "UBND tỉnh Quảng Ninh" and re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){4}",
                                                                   body["central_fingerprint"])

