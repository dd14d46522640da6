"""The clerk's pages through Flask's test client against a real SQLite file."""
import re
from datetime import datetime

from appshell.sqlite import connect
from node import create_app
from tests.conftest import APPLICANT, CLERK_PASSWORD, login, receive


def intake_form(**overrides):
    form = {"procedure": "1.000894", "name": "Nguyễn Văn Dũng", "id_number": "001203004567",
            "phone": "0912 345 678", "address": "Thôn Đông, xã Hòa Bình", "email": "",
            "doc": ["1"], "doc_name_1": "Tờ khai đăng ký kết hôn", "doc_kind_1": "original", "doc_count_1": "1",
            "channel": "in_person", "return_method": "desk"}
    form.update(overrides)
    return form


def db_count(app, table):
    conn = connect(app.config["DATABASE"])
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_intake_form_saves_and_redirects_to_the_dossier_with_its_due_time(app, clerk):
    r = clerk.post("/tiep-nhan", data=intake_form())
    assert r.status_code == 302
    code = "000.00.06.H56-260105-0001"
    assert r.headers["Location"].startswith(f"/ho-so/{code}")
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "09:00 10/01/2026" in page  # 5 working days, through the worked Saturday 10 Jan 2026
    assert "Được tiếp nhận" in page


def test_a_refused_intake_form_shows_inline_vietnamese_errors_and_saves_nothing(app, clerk):
    r = clerk.post("/tiep-nhan", data=intake_form(id_number="12345", phone="0212345678", name="", doc=[]))
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Hồ sơ chưa được lưu" in body
    assert "12 chữ số" in body and "Số điện thoại di động" in body and "Vui lòng nhập họ và tên" in body
    assert "Chọn ít nhất một giấy tờ" in body
    assert 'value="12345"' in body  # what the clerk typed is kept
    assert db_count(app, "dossiers") == 0 and db_count(app, "events") == 0


def test_lists_mask_id_numbers_and_search_finds_names_without_diacritics(ctx, clerk):
    receive(ctx)
    receive(ctx, applicant=dict(APPLICANT, name="Đặng Thị Đào", id_number="079301112233", phone="0987654321"))
    for query in ("nguyen van dung", "NGUYEN VAN D", "Nguyễn Văn Dũng", "001203004567", "0912345678",
                  "000.00.06.H56-260105-0001", "260105-0001"):
        page = clerk.get("/tim-kiem", query_string={"q": query}).get_data(as_text=True)
        assert "000.00.06.H56-260105-0001" in page, query
        rows = page.replace(query, "")  # the typed query is echoed back in the search box and title
        assert "0012******67" in rows and "001203004567" not in rows, query
    page = clerk.get("/tim-kiem", query_string={"q": "dang thi dao"}).get_data(as_text=True)
    assert "Đặng Thị Đào" in page and "Nguyễn Văn Dũng" not in page
    assert "0793******33" in clerk.get("/danh-sach/hom-nay").get_data(as_text=True)


def test_due_soon_overdue_status_and_handler_lists(ctx, clerk, clock):
    from node import store
    soon = receive(ctx)["code"]  # same-day: due today 17:00
    late = receive(ctx, procedure_code="1.001022")["code"]  # 3 working days
    store.act(ctx(), late, "start", {"handler": "hung"})
    assert soon in clerk.get("/danh-sach/sap-den-han").get_data(as_text=True)
    clock.set(datetime(2026, 1, 5, 17, 30))
    overdue = clerk.get("/danh-sach/qua-han").get_data(as_text=True)
    assert soon in overdue and late not in overdue
    assert late in clerk.get("/danh-sach", query_string={"trang-thai": 4}).get_data(as_text=True)
    assert late in clerk.get("/danh-sach", query_string={"can-bo": "hung"}).get_data(as_text=True)


def test_viewing_a_dossier_writes_the_access_log(app, ctx, clerk):
    code = receive(ctx)["code"]
    clerk.get(f"/ho-so/{code}")
    conn = connect(app.config["DATABASE"])
    rows = conn.execute("SELECT username, dossier, action FROM access_log").fetchall()
    assert [tuple(r) for r in rows] == [("lan", code, "view")]


def test_actions_through_the_page_and_illegal_ones_are_refused_with_a_message(ctx, clerk):
    code = receive(ctx)["code"]
    r = clerk.post(f"/ho-so/{code}/thao-tac/resolve", data={})
    assert r.status_code == 303
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Không thực hiện được" in page and "Được tiếp nhận" in page
    clerk.post(f"/ho-so/{code}/thao-tac/start", data={"handler": "hung"})
    clerk.post(f"/ho-so/{code}/thao-tac/resolve", data={})
    clerk.post(f"/ho-so/{code}/thao-tac/return", data={"rating": "5", "return_method": "desk"})
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "10. Đã trả kết quả" in page and "Rất hài lòng" in page


def test_citizen_lookup_shows_status_and_a_masked_name_for_the_right_pair(ctx, client):
    code = receive(ctx)["code"]
    r = client.post("/tra-cuu", data={"ma": code, "so": "5678"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "N. V. Dũng" in body and "Được tiếp nhận" in body
    assert "Nguyễn Văn Dũng" not in body and "0912345678" not in body and "001203004567" not in body


def test_wrong_lookup_pairs_reveal_nothing_and_are_rate_limited(ctx, client):
    code = receive(ctx)["code"]
    wrong_phone = client.post("/tra-cuu", data={"ma": code, "so": "0000"})
    wrong_code = client.post("/tra-cuu", data={"ma": code[:-4] + "0999", "so": "5678"})
    assert wrong_phone.status_code == wrong_code.status_code == 404
    def strip(response):  # the typed code is echoed back; the CSRF token carries a timestamp
        body = response.get_data(as_text=True).replace(code, "").replace(code[:-4] + "0999", "")
        return re.sub(r'name="csrf_token" value="[^"]*"', "", body)
    assert strip(wrong_phone) == strip(wrong_code)
    for _ in range(10):
        last = client.post("/tra-cuu", data={"ma": code, "so": "1111"})
    assert last.status_code == 429
    # even the right pair is refused while blocked
    assert client.post("/tra-cuu", data={"ma": code, "so": "5678"}).status_code == 429


def test_parallel_wrong_lookups_of_one_dossier_evaluate_at_most_the_limit(app, ctx):
    import threading
    code = receive(ctx)["code"]
    limit = app.config["MOTCUA"]["lookup_max_attempts"]
    attempts = limit * 4
    start = threading.Barrier(attempts)
    statuses, lock = [], threading.Lock()

    def attempt(n):
        client = app.test_client()  # each thread its own client, all against the one app and its limiters
        start.wait()
        r = client.post("/tra-cuu", data={"ma": code, "so": f"{1000 + n}"[-4:]},
                        environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})  # spread over addresses: the code limit bites
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(statuses) == attempts
    assert statuses.count(404) == limit  # evaluated: exactly the limit, however the threads interleaved
    assert statuses.count(429) == attempts - limit
    assert app.test_client().post("/tra-cuu", data={"ma": code, "so": "5678"}).status_code == 429


def test_a_right_lookup_pair_does_not_count_against_the_limit(app, ctx, client):
    code = receive(ctx)["code"]
    for _ in range(app.config["MOTCUA"]["lookup_max_attempts"] * 2):
        assert client.post("/tra-cuu", data={"ma": code, "so": "5678"}).status_code == 200
    assert client.post("/tra-cuu", data={"ma": code, "so": "0000"}).status_code == 404


def test_failed_logins_lock_the_account(client):
    for _ in range(5):
        assert login(client, password="wrong-password-1").status_code == 401
    r = login(client)
    assert r.status_code == 401 and "tạm khóa" in r.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(client):
    r = login(client)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_without_a_csrf_token_are_refused(node_dir, clock):
    app = create_app({"DATA_DIR": node_dir, "CLOCK": clock, "TESTING": True})
    client = app.test_client()
    r = client.post("/dang-nhap", data={"username": "lan", "password": CLERK_PASSWORD})
    assert r.status_code == 400 and "Phiên làm việc đã hết hạn" in r.get_data(as_text=True)


def test_only_admins_reach_the_admin_page_and_can_add_and_disable_users(client):
    login(client)
    assert client.get("/quan-tri/nguoi-dung").status_code == 403
    client.post("/dang-xuat")
    login(client, "admin", "Admin-pass-2026")
    r = client.post("/quan-tri/nguoi-dung", data={"username": "mai", "full_name": "Lê Thị Mai", "role": "clerk",
                                                  "password": "short"})
    assert r.status_code == 400 and "ít nhất 10 ký tự" in r.get_data(as_text=True)
    r = client.post("/quan-tri/nguoi-dung", data={"username": "mai", "full_name": "Lê Thị Mai", "role": "clerk",
                                                  "password": "Mai-pass-2026"})
    assert r.status_code == 303
    page = client.get("/quan-tri/nguoi-dung").get_data(as_text=True)
    assert "Lê Thị Mai" in page
    from appshell import accounts
    from appshell.sqlite import connect as c
    conn = c(client.application.config["DATABASE"])
    mai = accounts.by_name(conn, "mai")
    client.post(f"/quan-tri/nguoi-dung/{mai.id}/trang-thai")
    client.post("/dang-xuat")
    assert login(client, "mai", "Mai-pass-2026").status_code == 401


def test_a_disabled_users_open_session_ends(app, clerk):
    from appshell import accounts
    conn = connect(app.config["DATABASE"])
    accounts.set_active(conn, accounts.by_name(conn, "lan").id, False)
    assert clerk.get("/").status_code == 302


def test_unknown_pages_get_a_vietnamese_404_without_a_stack_trace(clerk):
    r = clerk.get("/ho-so/KHONG-CO")
    assert r.status_code == 404 and "Không tìm thấy" in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)


def test_pages_load_nothing_from_the_internet(ctx, clerk):
    code = receive(ctx)["code"]
    for path in ("/", "/tiep-nhan", f"/ho-so/{code}", "/tra-cuu", f"/bieu-mau/{code}/01"):
        body = clerk.get(path).get_data(as_text=True)
        external = re.findall(r"""(?:src|href|action)=["'](https?://[^"']+)|url\((?:["'])?(https?://[^)"']+)""", body)
        assert not external, (path, external)


def test_digit_searches_use_indexes_not_a_table_scan(app, ctx):
    from appshell.sqlite import connect as c
    conn = c(app.config["DATABASE"])
    receive(ctx)
    from node import store
    assert [r["code"] for r in store.search(conn, "0001")] == ["000.00.06.H56-260105-0001"]
    plan = " ".join(r[3] for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM dossiers WHERE id IN (SELECT id FROM dossiers WHERE id_number = ? "
        "UNION SELECT id FROM dossiers WHERE phone = ? UNION SELECT id FROM dossiers WHERE substr(code, -4) = ?)",
        ("1", "2", "0001")))
    assert "SCAN dossiers" not in plan.replace("SCAN dossiers_fts", ""), plan
