"""An upload the server would refuse unread is refused by the page first, in Vietnamese (issue 10).

waitress refuses any body over max_request_bytes before the app can answer (the clerk would see a bare
413 or a reset connection), so the dossier page checks the chosen files against the same cap and says why.
Real headless Chromium, real waitress server; the node allows 2 MB files in 3 MB requests.
"""
from __future__ import annotations

import re
import tomllib

import pytest

from domain import digitisation
from tests.conftest import LiveServer, receive
from tests.e2e.browser import page_for
from tests.e2e.test_clerk_browser import log_in
from tests.node import document_samples as samples

pytestmark = pytest.mark.browser
MB = 2**20


@pytest.fixture
def small_cap_app(node_dir, clock):
    from node import create_app
    raw = tomllib.loads((node_dir / "motcua.toml").read_text(encoding="utf-8"))
    settings = {**raw, "document_max_file_mb": 2, "max_request_bytes": 3 * MB}
    return create_app({"DATA_DIR": node_dir, "CLOCK": clock, "SETTINGS": settings})


@pytest.fixture
def server(small_cap_app):
    live = LiveServer(small_cap_app).start()
    yield live
    live.stop()


def test_files_over_the_servers_cap_are_refused_by_the_page_in_vietnamese_and_a_small_one_goes_through(
        browser, small_cap_app, server, ctx, tmp_path):
    from appshell.sqlite import connect
    from node import store
    code = receive(ctx)["code"]
    big = tmp_path / "ban-quet-lon.jpg"
    big.write_bytes(b"\xff" * (4 * MB))  # over the 3 MB the server reads at all
    small = tmp_path / "to-khai.jpg"
    small.write_bytes(samples.small_jpeg(1))
    with page_for(browser, server.url) as page:
        log_in(page)
        page.goto(f"/ho-so/{code}")
        form = page.locator("form[data-dropzone]").first
        form.locator("input[type=file]").set_input_files(str(big))
        requests_sent = []
        page.on("request", lambda r: requests_sent.append(r.url) if r.method == "POST" else None)
        form.locator("button[type=submit]").click()
        alert = form.locator("[data-upload-too-large]")
        alert.wait_for()
        assert "mỗi lần gửi tối đa 3 MB" in alert.inner_text() and "mỗi tệp tối đa 2 MB" in alert.inner_text()
        assert requests_sent == [] and re.search(rf"/ho-so/{re.escape(code)}$", page.url)

        form.locator("input[type=file]").set_input_files(str(small))
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"#documents$"))
    conn = connect(small_cap_app.config["DATABASE"])
    state = store.get(conn, code)
    conn.close()
    assert len(requests_sent) == 1  # only the small file was sent, and it was kept
    assert [len(c["files"]) for c in digitisation.components(state)][0] == 1
