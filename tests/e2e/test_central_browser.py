"""Central's pages in a real headless Chromium against a real waitress server (CSRF on, as deployed).

An upper-level admin logs in, reads the overview, finds a commune's dossier by the applicant's name
typed without diacritics and opens its signed history, then changes a procedure's time limit and
publishes the catalogue. Screenshots go to test-artifacts/central-*.png.
"""
from __future__ import annotations

import json
import re

import pytest

from domain import workflow
from protocol import keys
from tests.central.conftest import AGENCY, CENTRAL_ADMIN_PASSWORD, FakeNode, add_node
from tests.conftest import LiveServer
from tests.e2e.browser import artifact, page_for

pytestmark = pytest.mark.browser


@pytest.fixture
def central_server(central_dir, clock):
    """Central with its real configuration (CSRF on), a commune enrolled and a few dossiers pushed."""
    from central.app import create_app
    from central.db import connect
    app = create_app({"DATA_DIR": central_dir, "CLOCK": clock})
    conn = connect(app.config["DATABASE"])
    node = FakeNode(clock)
    client = app.test_client()
    assert node.enrol(client, add_node(conn, clock)).status_code == 200
    second = FakeNode(clock, "000.00.07.H56")
    assert second.enrol(client, add_node(conn, clock, "000.00.07.H56", "UBND xã Bình An")).status_code == 200
    code = node.receive()
    node.act(code, workflow.start_processing, {"handler": "hung"})
    other = node.receive()
    node.act(other, workflow.start_processing, {})
    node.act(other, workflow.resolve, {"result_note": "Giấy xác nhận"})
    for _ in range(2):
        node.act(node.receive(), workflow.start_processing, {})
    assert node.push(client).status_code == 200
    second.receive()
    assert second.push(client).status_code == 200
    server = LiveServer(app).start()
    yield server, conn, node, code
    server.stop()
    conn.close()


def log_in(page):
    page.goto("/")
    page.wait_for_url(re.compile(r"/dang-nhap"))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", CENTRAL_ADMIN_PASSWORD)
    page.click("form button[type=submit]:has-text('Đăng nhập')")
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("header .who").inner_text().startswith("Quản trị viên")


def test_admin_reads_the_overview_opens_a_dossier_s_history_and_publishes_a_catalogue_change(browser, central_server):
    server, conn, node, code = central_server
    with page_for(browser, server.url) as page:
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        log_in(page)

        # The overview: one row per commune, figures and sync health.
        rows = page.locator("#overview tbody tr")
        assert rows.count() == 2
        row = page.locator(f"#overview tbody tr[data-node='{AGENCY}']")
        cells = row.locator("td.num")
        assert cells.nth(0).inner_text() == "4"  # received this month
        assert cells.nth(2).inner_text() == "1"  # resolved early
        assert keys.fingerprint(keys.public_b64(node.key)) in row.inner_text()
        page.screenshot(path=str(artifact("central-overview.png")), full_page=True)

        # Find the dossier without diacritics and open its signed history.
        page.fill("header form.search input[name=q]", "nguyen van dung")
        page.click("header form.search button")
        page.wait_for_url(re.compile(r"/ho-so\?q="))
        results = page.locator("#results").inner_text()
        assert "0012******67" in results and "001203004567" not in results  # ID numbers masked in lists
        page.click(f"#results a:has-text('{code}')")
        page.wait_for_url(re.compile(re.escape(code)))
        assert page.locator("#dossier-code").inner_text() == code
        history = page.locator("#history tbody tr")
        assert history.count() == 2
        assert "Chuyển xử lý" in history.nth(1).inner_text() and "2 → 4" in history.nth(1).inner_text()
        assert page.locator("#history .fingerprint").first.inner_text() == keys.fingerprint(keys.public_b64(node.key))
        page.screenshot(path=str(artifact("central-dossier.png")), full_page=True)
        assert conn.execute("SELECT COUNT(*) FROM access_log WHERE dossier = ? AND action = 'web.view'",
                            (code,)).fetchone()[0] == 1

        # Change a procedure's time limit and publish the catalogue to every commune.
        page.click("header nav a:has-text('Danh mục & lịch')")
        page.wait_for_url(re.compile(r"/xuat-ban$"))
        assert page.locator("#catalogue-version").inner_text() == "1"
        procedure = state_procedure(node, code)
        page.click(f"tr[data-code='{procedure}'] a:has-text('Sửa')")
        page.fill("#limit_value", "7")
        page.select_option("#limit_unit", "working_days")
        page.click("#procedure-form button[type=submit]")
        page.wait_for_url(re.compile(r"/xuat-ban"))
        assert "sửa 1" in page.locator("#catalogue-changes").inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#publish-catalogue")
        page.wait_for_selector(".flash")
        assert "phiên bản 2" in page.locator(".flash").inner_text()
        assert page.locator("#catalogue-version").inner_text() == "2"
        assert page.locator(f"tr[data-code='{procedure}'] td.limit").inner_text().startswith("7 ngày làm việc")
        page.screenshot(path=str(artifact("central-publish.png")), full_page=True)
        assert not errors, errors

    # Both communes' signed feeds carry version 2 with the new limit.
    for agency in (AGENCY, "000.00.07.H56"):
        body = json.loads(conn.execute("SELECT body FROM feed WHERE node = ? ORDER BY seq DESC LIMIT 1",
                                       (agency,)).fetchone()[0])
        assert body["type"] == "catalogue.published" and body["data"]["version"] == 2
        changed = next(p for p in body["data"]["procedures"] if p["code"] == procedure)
        assert changed["limit"] == {"value": 7, "unit": "working_days"}


def state_procedure(node: FakeNode, code: str) -> str:
    return node.states[code]["procedure_code"]
