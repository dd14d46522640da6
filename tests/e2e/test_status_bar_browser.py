"""The status bar refreshes itself in a real headless Chromium (issue 12.10).

A real waitress server; the page's data-refresh-seconds is set to 1 so the test does not wait 30 s.
What changes underneath is real: a dossier received (one more change waiting to be sent) and the
sync worker's record of its last success, written to the node's SQLite file.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from node import sync_state
from tests.conftest import AGENCY, LiveServer, receive
from tests.e2e.browser import page_for
from tests.e2e.test_clerk_browser import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def quick_app(node_dir, clock):
    from node import create_app
    return create_app({"DATA_DIR": node_dir, "CLOCK": clock, "TESTING": True, "STATUS_REFRESH_SECONDS": 1})


@pytest.fixture
def server(quick_app):
    live = LiveServer(quick_app).start()
    yield live
    live.stop()


def test_the_status_bar_refreshes_by_itself_without_reloading_the_page(browser, quick_app, server, clock, ctx):
    from playwright.sync_api import expect

    from appshell.sqlite import connect
    conn = connect(quick_app.config["DATABASE"])
    sync_state.put(conn, central_public_key="x", central_url="http://127.0.0.1:9", node_id=AGENCY,
                   last_success_at=(clock.now - timedelta(minutes=1)).isoformat())
    with page_for(browser, server.url) as page:
        log_in(page)
        assert page.locator("body").get_attribute("data-refresh-seconds") == "1"
        page.evaluate("window.notReloaded = true")
        assert page.locator("#sync-last").inner_text() == "vừa xong"
        before = int(page.locator("#sync-pending").inner_text())

        sync_state.put(conn, last_success_at=(clock.now - timedelta(hours=2, minutes=15)).isoformat())
        receive(ctx)  # one more event waiting to be pushed
        expect(page.locator("#sync-last")).to_have_text("2 giờ 15 phút trước", timeout=10_000)
        assert int(page.locator("#sync-pending").inner_text()) == before + 1
        assert page.evaluate("window.notReloaded") is True  # the bar changed, the page stayed
        assert re.search(r"/$", page.url)
    conn.close()
