"""The web shell node and central share (appshell/web.py, appshell/web_auth.py): every test runs
against both servers, built from real data folders, and the concurrency and body-cap tests
against a real waitress server on 127.0.0.1."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import datetime

import pytest
import requests

from tests.conftest import Clock, free_port, stop_waitress

ADMIN_PASSWORD = "Admin-pass-2026"
STAFF_PASSWORD = "Staff-pass-2026"


@dataclass
class Site:
    kind: str
    app: object
    staff: str  # a non-admin account
    staff_pages: tuple[str, ...]

    def client(self):
        return self.app.test_client()

    def conn(self):
        from appshell.sqlite import connect
        return connect(self.app.config["DATABASE"])


@pytest.fixture(params=["node", "central"])
def site(request, tmp_path, folder_templates) -> Site:
    """Node or central on a fresh data folder (init, then the staff account lan; copied from this test
    process's template, tests/conftest.py FolderTemplates)."""
    from appshell import accounts
    from appshell.sqlite import connect
    clock = Clock(datetime(2026, 1, 5, 9, 0))
    if request.param == "node":
        from node import create_app, roles
        from node.provision import init_node
        from node.settings import DB_NAME

        def init(data):
            init_node(data, agency_code="000.00.06.H56", agency_name="UBND xã Hòa Bình", admin="admin",
                      password=ADMIN_PASSWORD, now=clock.now)
        role, page = "clerk", ("/danh-sach", "/tim-kiem?q=nguyen")
    else:
        from central import roles
        from central.app import create_app
        from central.provision import init_central
        from central.settings import DB_NAME

        def init(data):
            init_central(data, name="UBND tỉnh Quảng Ninh", admin="admin", password=ADMIN_PASSWORD, now=clock.now)
        role, page = "viewer", ("/ho-so?q=nguyen", "/lien-thong")

    def build(data):
        init(data)
        conn = connect(data / DB_NAME)
        accounts.create(conn, "lan", STAFF_PASSWORD, role, "Nguyễn Thị Lan", clock.now, roles=roles.ROLES)
        conn.close()
    data = folder_templates.copy(f"shell-{request.param}", clock.now, tmp_path / request.param, build)
    app = create_app({"DATA_DIR": data, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    return Site(request.param, app, "lan", page)


def login(client, username="lan", password=STAFF_PASSWORD, next_=None):
    path = "/dang-nhap" + (f"?next={next_}" if next_ else "")
    return client.post(path, data={"username": username, "password": password})


def cookie_of(client, app) -> str:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def replay(site: Site, cookie: str):
    fresh = site.client()
    fresh.set_cookie(site.app.config["SESSION_COOKIE_NAME"], cookie)
    return fresh.get("/")


def user_id(site: Site, username="lan") -> int:
    conn = site.conn()
    try:
        return conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0]
    finally:
        conn.close()


# --- error pages and headers ------------------------------------------------------------------

def test_a_forbidden_page_is_answered_in_vietnamese_on_both_servers(site):
    client = site.client()
    assert login(client).status_code == 302
    r = client.get("/quan-tri/nguoi-dung")
    assert r.status_code == 403
    page = r.get_data(as_text=True)
    assert "Không có quyền" in page and "Forbidden" not in page


def test_an_unknown_api_path_answers_the_one_json_error_body(site):
    r = site.client().get("/api/v1/khong-co")
    body = r.get_json()
    assert r.status_code in (401, 404) and set(body) == {"error"} and {"code", "message"} <= set(body["error"])


def test_every_staff_page_with_citizens_data_is_marked_no_store(site):
    client = site.client()
    login(client)
    for path in ("/", *site.staff_pages):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["Cache-Control"] == "no-store", path


# --- safe_next ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/%09/evil.example/", "/%0A/evil.example/", "%5C%5Cevil.example/",
                                    "/%5Cevil.example/", "//evil.example/", "https://evil.example/",
                                    "/%0D%0A/evil.example"])
def test_login_never_redirects_off_the_site_however_the_target_is_disguised(site, target):
    r = login(site.client(), next_=target)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert "evil.example" not in location, location


def test_login_returns_to_a_same_site_page_it_was_sent_from(site):
    r = login(site.client(), next_="/quan-tri/nguoi-dung?x=1")
    assert r.headers["Location"] == "/quan-tri/nguoi-dung?x=1"


# --- sessions end on the server -----------------------------------------------------------------

def test_a_saved_cookie_replayed_after_logout_gets_the_login_page(site):
    client = site.client()
    login(client)
    saved = cookie_of(client, site.app)
    assert replay(site, saved).status_code == 200
    client.post("/dang-xuat")
    r = replay(site, saved)
    assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]


def test_a_saved_cookie_replayed_after_a_password_change_gets_the_login_page(site):
    other_browser = site.client()
    login(other_browser)
    saved = cookie_of(other_browser, site.app)
    client = site.client()
    login(client)
    r = client.post("/doi-mat-khau", data={"current_password": STAFF_PASSWORD, "new_password": "New-pass-2027",
                                           "confirm": "New-pass-2027"})
    assert r.status_code == 303
    assert client.get("/").status_code == 200  # the browser that changed it goes on
    r = replay(site, saved)
    assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]
    assert login(site.client()).status_code == 401
    assert login(site.client(), password="New-pass-2027").status_code == 302


def test_a_saved_cookie_replayed_after_the_account_is_disabled_gets_the_login_page(site):
    client = site.client()
    login(client)
    saved = cookie_of(client, site.app)
    admin = site.client()
    login(admin, "admin", ADMIN_PASSWORD)
    assert admin.post(f"/quan-tri/nguoi-dung/{user_id(site)}/trang-thai").status_code == 303
    r = replay(site, saved)
    assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]
    assert login(site.client()).status_code == 401


def test_a_wrong_current_password_changes_nothing(site):
    client = site.client()
    login(client)
    r = client.post("/doi-mat-khau", data={"current_password": "not-the-password-1",
                                           "new_password": "New-pass-2027", "confirm": "New-pass-2027"})
    assert r.status_code == 400 and "Mật khẩu hiện tại không đúng" in r.get_data(as_text=True)
    assert client.get("/").status_code == 200
    assert login(site.client()).status_code == 302


def test_after_an_admin_reset_the_user_must_choose_a_new_password_before_anything_else(site):
    client = site.client()
    login(client)
    saved = cookie_of(client, site.app)
    admin = site.client()
    login(admin, "admin", ADMIN_PASSWORD)
    r = admin.post("/quan-tri/nguoi-dung/dat-lai-mat-khau", data={"user_id": user_id(site),
                                                                   "password": "Temp-pass-2026"})
    assert r.status_code == 303
    assert replay(site, saved).status_code == 302  # the open session ended at once
    assert login(site.client()).status_code == 401  # the old password is gone
    fresh = site.client()
    r = login(fresh, password="Temp-pass-2026")
    assert r.status_code == 302 and r.headers["Location"].endswith("/doi-mat-khau")
    assert fresh.get(site.staff_pages[0]).headers["Location"].endswith("/doi-mat-khau")
    assert "Quản trị viên đã đặt lại mật khẩu" in fresh.get("/doi-mat-khau").get_data(as_text=True)
    fresh.post("/doi-mat-khau", data={"current_password": "Temp-pass-2026", "new_password": "Own-pass-2027",
                                      "confirm": "Own-pass-2027"})
    assert fresh.get(site.staff_pages[0]).status_code == 200



def test_the_shared_stylesheet_is_linked_first_and_served_even_to_a_user_who_must_change_password(site):
    client = site.client()
    login(client)
    conn = site.conn()
    try:
        conn.execute("UPDATE users SET must_change_password = 1 WHERE username = 'lan'")
    finally:
        conn.close()
    page = client.get("/doi-mat-khau").get_data(as_text=True)
    shell, own = page.index('href="/static/shell/shell.css"'), page.index('href="/static/style.css"')
    assert shell < own  # each app's own rules come after the shared ones
    r = client.get("/static/shell/shell.css")
    assert r.status_code == 200 and r.mimetype == "text/css" and "header.top" in r.get_data(as_text=True)
    assert r.headers.get("Cache-Control") != "no-store"  # a static file, not a page with citizens' data

# --- throttles under concurrency ----------------------------------------------------------------

@pytest.fixture
def live(site):
    from appshell.web import make_server
    server = make_server(site.app, "127.0.0.1", free_port(), 8, "motcua-test")
    stopping = threading.Event()

    def run():
        try:
            server.run()
        except OSError:
            if not stopping.is_set():  # closing the sockets under select() is how waitress stops here
                raise
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{server.effective_port}"
    stopping.set()
    stop_waitress(server, thread)


def parallel_logins(url: str, pairs: list[tuple[str, str]]) -> list[requests.Response]:
    barrier = threading.Barrier(len(pairs))
    answers: list = [None] * len(pairs)

    def attempt(i, username, password):
        barrier.wait()
        answers[i] = requests.post(f"{url}/dang-nhap", data={"username": username, "password": password},
                                   allow_redirects=False, timeout=60)
    threads = [threading.Thread(target=attempt, args=(i, *pair)) for i, pair in enumerate(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_twenty_parallel_wrong_passwords_check_at_most_the_limit_then_even_the_right_one_is_refused(live):
    site, url = live
    limit = site.app.config["MOTCUA"]["login_max_failures"]
    answers = parallel_logins(url, [("lan", f"wrong-password-{i}") for i in range(20)])
    evaluated_wrong = [a for a in answers if "không đúng" in a.text]
    locked = [a for a in answers if "tạm khóa" in a.text]
    assert len(evaluated_wrong) + len(locked) == 20
    assert len(evaluated_wrong) <= limit
    right = requests.post(f"{url}/dang-nhap", data={"username": "lan", "password": STAFF_PASSWORD},
                          allow_redirects=False, timeout=30)
    assert right.status_code == 401 and "tạm khóa" in right.text


def test_parallel_logins_from_one_address_stop_at_its_limit_with_429(live):
    site, url = live
    limit = site.app.config["MOTCUA"]["login_max_per_address"]
    answers = parallel_logins(url, [(f"nobody{i}", "wrong-password-1") for i in range(limit + 10)])
    assert sum(a.status_code == 401 for a in answers) == limit
    assert sum(a.status_code == 429 for a in answers) == 10
    right = requests.post(f"{url}/dang-nhap", data={"username": "lan", "password": STAFF_PASSWORD},
                          allow_redirects=False, timeout=30)
    assert right.status_code == 429 and "Quá nhiều lần" in right.text


# --- bodies capped before they are buffered -----------------------------------------------------

def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_an_anonymous_request_announcing_500_mb_is_refused_before_any_body_is_read(live):
    _site, url = live
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /dang-nhap HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     + f"Content-Length: {500 * 2**20}\r\n\r\n".encode())
        assert " 413 " in _status_line(sock)


def test_an_anonymous_request_streaming_500_mb_is_cut_off_at_the_cap(live):
    site, url = live
    cap = site.app.config["MAX_CONTENT_LENGTH"]
    port = int(url.rsplit(":", 1)[1])
    sent = 0
    chunk = b"a" * (1 << 20)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /dang-nhap HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        try:
            while sent < 500 * 2**20:
                sock.sendall(frame)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection once the cap was passed
        status = _status_line(sock)
    assert " 413 " in status
    assert sent < cap + 64 * 2**20  # the server stopped reading at the cap: nowhere near 500 MB was taken in


def test_the_body_cap_is_a_setting_each_app_applies(site):
    settings = site.app.config["MOTCUA"]
    assert site.app.config["MAX_CONTENT_LENGTH"] == settings["max_request_bytes"]
    r = site.client().post("/dang-nhap", data={"username": "x" * (settings["max_request_bytes"] + 10)})
    assert r.status_code == 413 and "Dữ liệu quá lớn" in r.get_data(as_text=True)


def test_a_lock_ends_after_its_minutes_and_the_count_starts_again(site):
    settings = site.app.config["MOTCUA"]
    clock = site.app.config["CLOCK"]
    client = site.client()
    for _ in range(settings["login_max_failures"]):
        login(client, password="wrong-password-1")
    assert "tạm khóa" in login(client).get_data(as_text=True)
    clock.advance(minutes=settings["login_lock_minutes"], seconds=1)
    assert login(client, password="wrong-password-1").status_code == 401  # counted from one again
    assert login(client).status_code == 302


def test_logout_says_so_on_the_login_page(site):
    client = site.client()
    login(client)
    page = client.post("/dang-xuat", follow_redirects=True).get_data(as_text=True)
    assert "Bạn đã đăng xuất." in page


def test_the_add_account_form_proposes_the_least_powerful_role(site):
    admin = site.client()
    login(admin, "admin", ADMIN_PASSWORD)
    page = admin.get("/quan-tri/nguoi-dung").get_data(as_text=True)
    least = "clerk" if site.kind == "node" else "viewer"
    assert f'<option value="{least}" selected>' in page
    assert page.count(" selected>") == 1
