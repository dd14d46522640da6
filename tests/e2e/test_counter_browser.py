"""The counter without friction (issue 12) in a real headless Chromium against a real waitress server.

A card scan typed key by key as a USB scanner types it, keyboard-only intake with its keystroke count,
save-and-print opening the print dialog, and the 6-document receipt printed to PDF on one page per copy.
"""
from __future__ import annotations

import logging
import re

import pytest

from appshell.sqlite import connect
from tests.conftest import CLERK_PASSWORD
from tests.e2e.browser import artifact, page_for

pytestmark = pytest.mark.browser

CARD = "001090004567|123456789|Nguyễn Văn Dũng|15041990|Nam|Thôn Đông, Hòa Bình, Quảng Ninh|10082021"
PHONE = "0912345678"


@pytest.fixture
def page(browser, live_node):
    with page_for(browser, live_node.url) as p:
        # record print() calls instead of opening a dialog that headless Chromium cannot show
        p.add_init_script("window.__printed = 0; window.print = function () { window.__printed += 1; };")
        yield p


class Keys:
    """The clerk's keyboard: every key pressed is counted (the scanner's are not)."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def type(self, text: str):
        self.page.keyboard.type(text)
        self.count += len(text)

    def press(self, key: str):
        self.page.keyboard.press(key)
        self.count += 1


def scan(page, payload: str):
    """A USB 2D scanner in keyboard mode: one key at a time, then Enter."""
    page.keyboard.type(payload, delay=2)
    page.keyboard.press("Enter")


def wait_until(page, expression: str, timeout_s: float = 10.0):
    """Poll an expression through page.evaluate (wait_for_function needs eval, which the CSP forbids)."""
    import time
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s}s: {expression}")
        page.wait_for_timeout(50)


def rows(app, sql: str, *args):
    conn = connect(app.config["DATABASE"])
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def log_in(page):
    page.goto("/dang-nhap")
    page.fill("input[name=username]", "lan")
    page.fill("input[name=password]", CLERK_PASSWORD)
    page.click("form button[type=submit]:has-text('Đăng nhập')")
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/tiep-nhan")


def focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.name")


def test_a_card_scan_typed_key_by_key_fills_the_applicant_never_submits_and_is_access_logged(
        page, app, caplog):
    caplog.set_level(logging.DEBUG)
    log_in(page)
    assert focused(page) == "procedure-filter"
    page.keyboard.type("kh sinh")
    page.keyboard.press("Enter")
    assert page.input_value("#procedure") == "1.001193"
    assert page.url.endswith("/tiep-nhan"), "Enter in the filter picks, it does not submit"
    assert focused(page) == "name"

    scan(page, CARD)  # focus in the (empty) name field: the scan's digits must not stay there
    wait_until(page, "document.getElementById('intake-form').dataset.cardFilled === '1'")
    assert page.input_value("input[name=name]") == "Nguyễn Văn Dũng"
    assert page.input_value("input[name=id_number]") == "001090004567"
    assert page.input_value("input[name=birth_date]") == "15/04/1990"
    assert page.input_value("select[name=sex]") == "Nam"
    assert page.input_value("input[name=address]") == "Thôn Đông, Hòa Bình, Quảng Ninh"
    assert focused(page) == "phone"
    assert page.url.endswith("/tiep-nhan") and rows(app, "SELECT code FROM dossiers") == []

    # a second scan with the focus in the procedure filter leaves the filter as it was
    page.focus("#procedure-filter")
    scan(page, CARD.replace("Nguyễn Văn Dũng", "Nguyễn Văn Dũng Anh"))
    wait_until(page, "document.querySelector('input[name=name]').value.endsWith('Anh')")
    assert page.input_value("#procedure-filter") == "kh sinh"
    assert page.locator("#procedure-none").is_hidden()
    assert rows(app, "SELECT code FROM dossiers") == []

    reads = rows(app, "SELECT username, dossier, action FROM access_log WHERE action LIKE 'card_read%'")
    assert reads == [("lan", "*card*", "card_read:cccd")] * 2
    assert not [r for r in caplog.records if "001090004567" in r.getMessage() or "Dũng" in r.getMessage()]


def test_keyboard_only_intake_with_a_card_scan_and_without_counts_its_keystrokes(page, app, capsys):
    counts = {}
    for label, with_card in (("with card scan", True), ("typed", False)):
        log_in(page)
        keys = Keys(page)
        keys.type("khai sinh")
        keys.press("Enter")
        if with_card:
            scan(page, CARD)
            wait_until(page, "document.getElementById('intake-form').dataset.cardFilled === '1'")
        else:
            keys.type("Nguyễn Văn Dũng")
            keys.press("Tab")
            keys.type("001 090 004 567")
            keys.press("Tab")
            keys.press("Tab")  # birth date (optional)
            keys.press("Tab")  # sex (optional)
        assert focused(page) == "phone"
        keys.type("0912 345 678")
        if not with_card:
            keys.press("Tab")
            keys.press("Tab")  # email (optional)
            keys.type("Thôn Đông, Hòa Bình, Quảng Ninh")
        keys.press("Enter")  # Enter in a field = "Lưu và in"
        page.wait_for_url(re.compile(r"/bieu-mau/.+/01\?in=1$"))
        wait_until(page, "window.__printed === 1")
        counts[label] = keys.count
    with capsys.disabled():
        print(f"\nkeyboard-only intake keystrokes: {counts}")
    assert counts["with card scan"] <= 35
    saved = rows(app, "SELECT id_number, phone FROM dossiers ORDER BY code")
    assert saved == [("001090004567", "0912345678")] * 2


def test_a_refused_save_focuses_the_first_invalid_field_and_shows_every_required_error_at_once(page, app):
    log_in(page)
    page.keyboard.type("khai sinh")
    page.keyboard.press("Enter")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # nothing typed: Enter in the empty name field tries to save
    assert page.locator("#intake-errors").is_visible()
    assert focused(page) == "name"
    for name in ("name", "id_number", "phone", "address"):
        field = page.locator(f"[name={name}]")
        assert field.get_attribute("aria-invalid") == "true", name
        described = field.get_attribute("aria-describedby")
        assert page.locator(f"#{described}").inner_text(), name
    assert rows(app, "SELECT code FROM dossiers") == []


def test_the_filter_says_nothing_found_and_finds_words_in_any_order(page):
    log_in(page)
    page.keyboard.type("xyz khai")
    assert page.locator("#procedure-none").is_visible()
    assert "Không tìm thấy" in page.locator("#procedure-none").inner_text()
    page.fill("#procedure-filter", "dat dai bien dong")
    assert page.locator("#procedure option:checked").inner_text().startswith("Đăng ký biến động")
    assert page.locator("#procedure-none").is_hidden()


def pdf_pages(pdf: bytes) -> int:
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        info = subprocess.run(["pdfinfo", f.name], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def receive_with_documents(ctx, count: int) -> str:
    from node import store
    docs = [{"name": f"Giấy tờ số {i + 1}: bản sao giấy chứng nhận quyền sử dụng đất và tài sản gắn liền",
             "kind": "copy", "count": 1} for i in range(count)]
    applicant = {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
                 "address": "Thôn Đông, xã Hòa Bình, tỉnh Quảng Ninh", "email": "dung@example.vn"}
    return store.receive(ctx(), procedure_code="XA-DD-01", applicant=applicant, documents=docs,
                         channel="in_person", return_method="desk",
                         representative={"name": "Trần Văn Bình", "id_number": "001090001234",
                                         "phone": "0987654321", "relationship": "Con trai"})["code"]


@pytest.mark.parametrize("documents, pages", [(6, 2), (8, 2), (12, 4)])
def test_a_receipt_prints_one_a4_sheet_per_copy_up_to_8_documents_then_continues(page, ctx, documents, pages):
    code = receive_with_documents(ctx, documents)
    log_in(page)
    page.goto(f"/bieu-mau/{code}/01")
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    artifact(f"receipt-{documents}-documents.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == pages
    if documents > 8:  # the continuation sheet repeats the code and the signature lines
        more = page.locator("section.form-01-more")
        assert more.count() == 2 and code in more.first.inner_text()
        assert "NGƯỜI TIẾP NHẬN HỒ SƠ" in more.first.inner_text()


def verify_in_browser(page, text: str) -> str:
    """A citizen (or a scanner) types the QR's text into the public /xac-thuc page."""
    page.goto("/xac-thuc")
    page.fill("#qr-text", text)
    page.click("button:text-is('Xác thực')")
    page.wait_for_selector("#verdict")
    return page.get_attribute("#verdict", "data-outcome")


def test_qr_verification_of_a_genuine_a_superseded_and_a_forged_receipt(page, ctx):
    code = receive_with_documents(ctx, 2)
    log_in(page)
    page.goto(f"/bieu-mau/{code}/01")
    old = page.get_attribute(".form-01 .paper-qr", "data-qr")
    assert page.locator(".form-01 .paper-qr svg").count() == 2
    assert verify_in_browser(page, old) == "genuine"
    assert code in page.locator("#verdict").inner_text()

    # correct the applicant's name through the dossier page, then reprint
    page.goto(f"/ho-so/{code}")
    page.click("#correct-link")
    page.fill("input[name=name]", "Nguyễn Văn Dũng Anh")
    page.fill("textarea[name=reason]", "Ghi sai tên người nộp")
    page.click("#save-correction")
    page.wait_for_url(f"**/ho-so/{code}")
    assert "Ghi sai tên người nộp" in page.locator("#corrections").inner_text()
    page.click("#form01-link")
    assert "IN LẠI" in page.locator(".form-01").first.inner_text()
    new = page.get_attribute(".form-01 .paper-qr", "data-qr")

    assert verify_in_browser(page, old) == "superseded"
    assert verify_in_browser(page, new) == "genuine"
    forged = new[:20] + ("A" if new[20] != "A" else "B") + new[21:]
    assert verify_in_browser(page, forged) == "forged"
    page.screenshot(path=artifact("verify-forged.png"), full_page=True)

    # a photo of the old receipt's QR, uploaded as a phone would
    from tests.node.test_counter_correct import photo_of
    page.goto("/xac-thuc")
    page.set_input_files("#qr-photo", files=[{"name": "qr.jpg", "mimeType": "image/jpeg", "buffer": photo_of(old)}])
    page.click("button:text-is('Xác thực từ ảnh')")
    page.wait_for_selector("#verdict")
    assert page.get_attribute("#verdict", "data-outcome") == "superseded"


def test_save_and_print_is_one_click_and_opens_the_print_dialog_of_form_01(page, app):
    log_in(page)
    page.keyboard.type("khai sinh")
    page.keyboard.press("Enter")
    page.fill("input[name=name]", "Nguyễn Văn Dũng")
    page.fill("input[name=id_number]", "001 203 004 567")
    page.fill("input[name=phone]", "0912345678")
    page.fill("input[name=address]", "Thôn Đông")
    page.click("#save-print")
    page.wait_for_url(re.compile(r"/bieu-mau/.+/01\?in=1$"))
    wait_until(page, "window.__printed === 1")
    assert page.locator("section.form-01").count() == 2
    assert rows(app, "SELECT id_number FROM dossiers") == [("001203004567",)]


@pytest.mark.parametrize("viewport", [{"width": 1920, "height": 1080}, {"width": 390, "height": 844}])
def test_the_kiosk_catalogue_has_large_touch_targets_on_a_1080p_kiosk_and_a_phone(browser, live_node, viewport):
    context = browser.new_context(base_url=live_node.url, locale="vi-VN", viewport=viewport, has_touch=True)
    try:
        page = context.new_page()
        page.goto("/thu-tuc")
        page.fill("#kiosk-q", "khai sinh")
        page.press("#kiosk-q", "Enter")
        page.wait_for_url(re.compile(r"/thu-tuc\?q="))
        targets = page.locator(".kiosk button, .kiosk .button, .kiosk-item summary").all()
        assert targets and all(t.bounding_box()["height"] >= 44 for t in targets if t.is_visible())
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.locator(".kiosk-item summary").first.tap()
        assert "Giấy tờ cần nộp" in page.locator(".kiosk-item").first.inner_text()
        page.screenshot(path=artifact(f"kiosk-{viewport['width']}.png"), full_page=False)
    finally:
        context.close()
