"""Uploads and the body cap agree (issue 10): the upload routes' cap never exceeds max_request_bytes, which
waitress enforces before the app sees a body; a max_request_bytes too small for the largest file stops the
node at start-up; an upload over the cap is answered in Vietnamese (the API in its one error shape).

Real waitress server (appshell.web.make_server, as `motcua-node run` starts it), real SQLite file, CSRF on.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import tomllib

import pytest
import requests

from appshell.settings import ConfigError
from tests.conftest import CLERK_PASSWORD, free_port, receive, stop_waitress

MB = 2**20


def node_settings(node_dir, **overrides) -> dict:
    raw = tomllib.loads((node_dir / "motcua.toml").read_text(encoding="utf-8"))
    return {**raw, **overrides}


@pytest.fixture
def served(node_dir, clock):
    """A node whose files may be 1 MB (so 8 files + 1 MB = 9 MB an upload), under the default 32 MB server cap."""
    from appshell.web import make_server
    from node import create_app
    app = create_app({"DATA_DIR": node_dir, "CLOCK": clock,
                      "SETTINGS": node_settings(node_dir, document_max_file_mb=1)})
    server = make_server(app, "127.0.0.1", free_port(), 4, "motcua-test")
    stopping = threading.Event()

    def run():
        try:
            server.run()
        except OSError:
            if not stopping.is_set():
                raise
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.effective_port}"
    stopping.set()
    stop_waitress(server, thread)


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def logged_in(url: str) -> requests.Session:
    s = requests.Session()
    token = csrf_token(s.get(f"{url}/dang-nhap", timeout=30).text)
    r = s.post(f"{url}/dang-nhap", data={"username": "lan", "password": CLERK_PASSWORD, "csrf_token": token},
               allow_redirects=False, timeout=30)
    assert r.status_code == 302
    return s


def stored(app) -> tuple[int, int, list]:
    """(blobs, events, blob files): what an upload would have added."""
    from appshell.sqlite import connect
    conn = connect(app.config["DATABASE"])
    try:
        counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("blobs", "events")]
    finally:
        conn.close()
    folder = app.config["DATA_DIR"] / "blobs"
    return (*counts, sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else [])


def test_an_upload_over_the_cap_gets_a_vietnamese_page_from_a_real_server_and_nothing_is_saved(served, ctx):
    app, url = served
    code = receive(ctx)["code"]
    before = stored(app)
    clerk = logged_in(url)
    token = csrf_token(clerk.get(f"{url}/ho-so/{code}", timeout=30).text)
    r = clerk.post(f"{url}/ho-so/{code}/tai-lieu", data={"component": "0", "csrf_token": token},
                   files={"file": ("scan.jpg", b"\xff" * (10 * MB), "image/jpeg")}, timeout=60)
    assert r.status_code == 413
    assert "Tệp gửi lên quá lớn" in r.text and "tối đa 9 MB" in r.text and "mỗi tệp tối đa 1 MB" in r.text
    assert "Chưa có gì được lưu" in r.text
    assert stored(app) == before


def test_an_api_upload_over_the_cap_gets_the_one_json_error_shape_in_vietnamese(served, ctx, clock):
    from appshell import accounts
    from appshell.sqlite import connect
    from node import roles
    app, url = served
    code = receive(ctx)["code"]
    before = stored(app)
    conn = connect(app.config["DATABASE"])
    bearer = accounts.create_token(conn, accounts.by_name(conn, "lan"), "scanner", clock.now, prefix=roles.TOKEN_PREFIX)
    conn.close()
    r = requests.post(f"{url}/api/v1/dossiers/{code}/attachments", headers={"Authorization": f"Bearer {bearer}"},
                      data={"component": "0"}, files={"file": ("scan.jpg", b"\xff" * (10 * MB), "image/jpeg")},
                      timeout=60)
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["code"] == "too_large" and "tối đa 9 MB" in error["message"]
    assert stored(app) == before


def test_the_upload_routes_cap_never_exceeds_max_request_bytes(node_dir, clock, ctx):
    from node import create_app
    from node.views.documents import upload_cap
    app = create_app({"DATA_DIR": node_dir, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    settings = app.config["MOTCUA"]
    assert 8 * settings["document_max_file_mb"] * MB > settings["max_request_bytes"]  # the defaults: 8 x 25 MB > 32 MB
    assert upload_cap(settings) == settings["max_request_bytes"]
    code = receive(ctx)["code"]
    client = app.test_client()
    client.post("/dang-nhap", data={"username": "lan", "password": CLERK_PASSWORD})
    # one byte over the server's own cap: the app refuses it too (with the limits said in Vietnamese)
    body = b"\xff" * (settings["max_request_bytes"] + 1)
    r = client.post(f"/ho-so/{code}/tai-lieu", data={"component": "0", "file": (__import__("io").BytesIO(body),
                                                                                 "scan.jpg")},
                    content_type="multipart/form-data")
    assert r.status_code == 413 and "mỗi lần gửi tối đa 32 MB" in r.get_data(as_text=True)


def test_a_body_cap_too_small_for_the_largest_file_is_refused_at_start_up(node_dir):
    from node.settings import FILE
    with pytest.raises(ConfigError, match="max_request_bytes.*document_max_file_mb"):
        FILE.parse(node_settings(node_dir, max_request_bytes=20 * MB, document_max_file_mb=25))
    assert FILE.parse(node_settings(node_dir, max_request_bytes=26 * MB, document_max_file_mb=25))
    config = node_dir / "motcua.toml"
    config.write_text(re.sub(r"(?m)^max_request_bytes = .*$", "max_request_bytes = 10485760",
                             config.read_text(encoding="utf-8")), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "node.cli", "run", "--data", str(node_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: setting 'max_request_bytes' (10485760) must be at least")
