"""The clerk's main flow in a real headless Chromium against a real waitress server.

Log in, receive a birth registration at the counter, print the receipt (form 01), find the
dossier again by the applicant's name typed without diacritics, and take it through
processing to the citizen collecting the result. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re

import pytest

from tests.conftest import CLERK_PASSWORD
from tests.e2e.browser import artifact, page_for

pytestmark = pytest.mark.browser

PROCEDURE = "1.001193"  # Đăng ký khai sinh: same-day procedure, cut-off 15:00
NAME = "Nguyễn Văn Dũng"
ID_NUMBER = "001203004567"
MASKED_ID = "0012******67"
PHONE = "0912345678"
ADDRESS = "Thôn Đông, xã Hòa Bình"


@pytest.fixture
def page(browser, live_node):
    with page_for(browser, live_node.url) as p:
        yield p


def dossier_rows(app) -> list[dict]:
    from appshell.sqlite import connect
    conn = connect(app.config["DATABASE"])
    try:
        return [dict(r) for r in conn.execute("SELECT code, status, id_number, due_at, doc FROM dossiers")]
    finally:
        conn.close()


def log_in(page, username="lan", password=CLERK_PASSWORD):
    page.goto("/dang-nhap")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]:has-text('Đăng nhập')")
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("header .who").inner_text() == "Nguyễn Thị Lan"


def open_intake(page):
    page.click("header nav a:has-text('Tiếp nhận')")
    page.wait_for_url("**/tiep-nhan")
    assert page.locator("h1").inner_text() == "Tiếp nhận hồ sơ"


def run_action(page, label: str, action: str, fill: dict[str, str] | None = None, check: str | None = None):
    """Open the action's <details>, fill its form and submit it, as a clerk would."""
    form = page.locator(f"form[data-action='{action}']")
    if not form.is_visible():
        page.click(f"#actions details.action summary:text-is('{label}')")
    for selector, value in (fill or {}).items():
        form.locator(selector).fill(value)
    if check:
        form.locator(check).check()
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_clerk_receives_prints_finds_and_returns_a_birth_registration(page, live_node, app, clock):
    log_in(page)
    open_intake(page)

    # Filter the catalogue without diacritics: only birth registrations stay visible.
    page.fill("#procedure-filter", "dang ky khai sinh")
    visible = page.locator("#procedure option:not([hidden])")
    labels = visible.all_inner_texts()
    assert labels and all("khai sinh" in t.lower() for t in labels), labels
    assert len(labels) < page.locator("#procedure option").count()
    # The same list with diacritics typed.
    page.fill("#procedure-filter", "khai sinh")
    assert any(t.startswith("Đăng ký khai sinh —") for t in visible.all_inner_texts())
    page.select_option("#procedure", PROCEDURE)
    assert page.locator("#procedure option:checked").inner_text().startswith("Đăng ký khai sinh —")

    documents = page.locator(f"fieldset.documents[data-procedure='{PROCEDURE}']")
    assert documents.is_visible()
    assert page.locator("fieldset.documents:visible").count() == 1

    page.fill("input[name=name]", NAME)
    page.fill("input[name=id_number]", ID_NUMBER)
    page.fill("input[name=phone]", PHONE)
    page.fill("input[name=address]", ADDRESS)
    ticked = []
    for row in documents.locator("tbody tr").all()[:2]:  # the declaration and the birth certificate
        row.locator("input[type=checkbox][name=doc]").check()
        ticked.append(row.locator("label").inner_text())
    assert ticked == ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh hoặc giấy tờ thay thế"]
    page.screenshot(path=artifact("intake-form.png"), full_page=True)

    page.click("#save-intake")
    page.wait_for_url(re.compile(r"/ho-so/[^/?]+\?printed=01$"))
    [row] = dossier_rows(app)
    code = row["code"]
    due = _vn_datetime(row["due_at"])
    assert due.endswith("05/01/2026"), "a same-day procedure received at 09:00 is due the same day"
    flash = page.locator(".flash").inner_text()
    assert f"Đã tiếp nhận hồ sơ {code}" in flash and f"Hạn trả kết quả: {due}" in flash
    assert page.locator("#dossier-code").inner_text() == code
    assert page.locator("#dossier-status").inner_text() == "2. Được tiếp nhận"

    # The receipt, form 01.
    receipt_link = page.locator("#print-receipt")
    assert receipt_link.get_attribute("href") == f"/bieu-mau/{code}/01"
    receipt_link.click()
    page.wait_for_url(f"**/bieu-mau/{code}/01")
    sheet = page.locator("section.form-01").first
    assert sheet.locator(".dossier-code").inner_text() == code
    sheet_text = sheet.inner_text()
    assert f"Thời gian trả kết quả giải quyết hồ sơ: {_form_time(row['due_at'])}" in sheet_text
    assert "Thời gian nhận hồ sơ: 09 giờ 00 phút, ngày 05/01/2026" in sheet_text  # as form 01 writes it
    assert NAME in sheet_text and "Đăng ký khai sinh" in sheet_text
    assert all(doc in sheet_text for doc in ticked)
    assert page.locator("section.form-01").count() == 2  # one copy for the citizen, one kept at the desk
    page.screenshot(path=artifact("receipt-01.png"), full_page=True)

    # Find it again by the name typed without diacritics.
    page.goto("/")
    page.fill("header form.search input[name=q]", "nguyen van dung")
    page.press("header form.search input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/tim-kiem\?q=nguyen"))
    result = page.locator("main table.list tbody tr", has_text=code)
    assert result.count() == 1
    assert MASKED_ID in result.inner_text()
    assert ID_NUMBER not in page.content(), "lists show ID numbers masked only"
    result.locator(f"a:text-is('{code}')").click()
    page.wait_for_url(f"**/ho-so/{code}")
    assert page.locator("#dossier-status").inner_text() == "2. Được tiếp nhận"

    clock.advance(hours=1)
    run_action(page, "Chuyển xử lý", "start", fill={"input[name=handler]": "Trần Văn Hùng"})
    assert page.locator("#dossier-status").inner_text() == "4. Đang xử lý"
    assert f"Đã cập nhật hồ sơ {code}: Chuyển xử lý" in page.locator(".flash").inner_text()

    clock.advance(hours=3)
    run_action(page, "Đã xử lý xong", "resolve", fill={"input[name=result_note]": "Giấy khai sinh bản chính"})
    assert page.locator("#dossier-status").inner_text() == "9. Đã xử lý xong"

    clock.advance(hours=2)
    run_action(page, "Trả kết quả", "return", check="input[name=rating][value='5']")
    assert page.locator("#dossier-status").inner_text() == "10. Đã trả kết quả"
    assert page.locator("#rating").inner_text() == "Rất hài lòng"
    assert page.locator("#actions").count() == 0, "a returned dossier has nothing left to do"
    page.screenshot(path=artifact("dossier-final.png"), full_page=True)

    [row] = dossier_rows(app)
    assert row["status"] == 10


def test_intake_with_bad_phone_and_short_id_shows_inline_errors_and_saves_nothing(page, live_node, app):
    log_in(page)
    open_intake(page)
    page.fill("#procedure-filter", "khai sinh")
    page.select_option("#procedure", PROCEDURE)
    page.fill("input[name=name]", NAME)
    page.fill("input[name=id_number]", "12345")
    page.fill("input[name=phone]", "0123")
    page.fill("input[name=address]", ADDRESS)
    page.locator(f"fieldset.documents[data-procedure='{PROCEDURE}'] input[name=doc]").first.check()
    page.click("#save-intake")
    page.wait_for_load_state()

    assert page.url.endswith("/tiep-nhan")
    assert "Hồ sơ chưa được lưu" in page.locator("p.error").inner_text()
    id_error = page.locator("[data-error-for=id_number]")
    phone_error = page.locator("[data-error-for=phone]")
    assert id_error.inner_text() == "Số định danh phải có 12 chữ số (hoặc 9 chữ số với CMND cũ)."
    assert phone_error.inner_text().startswith("Số điện thoại di động gồm 10 chữ số")
    assert page.locator("[data-error-for=name]").count() == 0
    # What the clerk typed is still there to correct.
    assert page.input_value("input[name=name]") == NAME
    assert page.input_value("#procedure") == PROCEDURE
    page.screenshot(path=artifact("intake-errors.png"), full_page=True)

    assert dossier_rows(app) == []
    page.goto("/danh-sach/hom-nay")
    assert page.locator("main table.list").count() == 0
    assert "Không có hồ sơ." in page.locator("main").inner_text()


def _form_time(value: str) -> str:
    from node.views.forms import form_time
    return form_time(value)


def _vn_datetime(value: str) -> str:
    from node.views.filters import vn_datetime
    return vn_datetime(value)
