"""Digitisation in a real headless Chromium against a real waitress server.

Intake with two components scanned from files, the phone-capture page in a second browser context (its file
input stands in for the camera), thumbnails on the dossier page, resolve with a result file, and reuse at the
next intake for the same ID number. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.browser import artifact, page_for
from tests.e2e.test_clerk_browser import (
    ADDRESS,
    ID_NUMBER,
    NAME,
    PHONE,
    PROCEDURE,
    dossier_rows,
    log_in,
    open_intake,
    run_action,
)
from tests.node import document_samples as samples

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_node):
    with page_for(browser, live_node.url) as p:
        yield p


def fill_intake(page):
    open_intake(page)
    page.fill("#procedure-filter", "khai sinh")
    page.select_option("#procedure", PROCEDURE)
    page.fill("input[name=name]", NAME)
    page.fill("input[name=id_number]", ID_NUMBER)
    page.fill("input[name=phone]", PHONE)
    page.fill("input[name=address]", ADDRESS)
    documents = page.locator(f"fieldset.documents[data-procedure='{PROCEDURE}']")
    values = []
    for row in documents.locator("tbody tr").all()[:2]:
        box = row.locator("input[type=checkbox][name=doc]")
        box.check()
        values.append(box.get_attribute("value"))
    return values


def test_scans_phone_capture_thumbnails_result_and_reuse_in_a_real_browser(page, browser, live_node, app, tmp_path):
    declaration = tmp_path / "to-khai.pdf"  # a JPEG that calls itself a PDF
    declaration.write_bytes(samples.small_jpeg(1))
    certificate = tmp_path / "giay-chung-sinh.pdf"
    certificate.write_bytes(samples.simple_pdf(pages=2))
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(samples.phone_photo(width=3000, height=2250))
    result = tmp_path / "ket-qua.png"
    result.write_bytes(samples.flatbed_scan(dpi=100))

    # 1. intake with two components from files
    log_in(page)
    values = fill_intake(page)
    for value, path in zip(values, (declaration, certificate), strict=False):
        page.locator(f"input[type=file][name=scan_{value}]").set_input_files(str(path))
    page.screenshot(path=artifact("documents-intake.png"), full_page=True)
    page.click("#save-intake")
    page.wait_for_url(re.compile(r"/ho-so/[^/?]+\?printed=01$"))
    [row] = dossier_rows(app)
    code = row["code"]
    states = page.locator("#documents td.digitisation-state")
    assert [states.nth(i).get_attribute("data-state") for i in range(2)] == ["digitised", "digitised"]
    assert "PDF · 2 trang" in page.locator("#documents").inner_text()

    # 2. the phone: a QR with a one-time link, opened in a second browser context
    page.click("#documents button[data-capture='0']")
    page.wait_for_selector("#capture-qr svg")
    link = page.locator("#capture-link").inner_text()
    path = "/" + link.split("/", 3)[3]
    phone_context = browser.new_context(base_url=live_node.url, locale="vi-VN", viewport={"width": 390, "height": 844},
                                        user_agent="Mozilla/5.0 (Linux; Android 13) Mobile")
    try:
        phone = phone_context.new_page()
        phone.goto(path)
        camera = phone.locator("#capture-input")
        assert camera.get_attribute("capture") == "environment" and camera.get_attribute("accept") == "image/*"
        camera.set_input_files(str(photo))
        phone.click("#capture-form button[type=submit]")
        phone.wait_for_selector("#capture-done")
        assert "Đã gửi 1 trang" in phone.locator("#capture-done").inner_text()
        phone.screenshot(path=artifact("documents-phone.png"), full_page=True)
    finally:
        phone_context.close()

    # 3. thumbnails on the dossier page, really decoded by the browser
    page.goto(f"/ho-so/{code}")
    thumbs = page.locator("#documents img.thumb")
    assert thumbs.count() == 2  # the declaration and the phone photo (the PDF shows its page count)
    page.wait_for_function("Array.from(document.querySelectorAll('#documents img.thumb'))"
                           ".every(function (i) { return i.complete && i.naturalWidth > 0; })")
    assert "Chụp bằng điện thoại" in page.locator("#documents").inner_text()

    # 4. resolve, then register the result with its scan
    run_action(page, "Chuyển xử lý", "start")
    run_action(page, "Đã xử lý xong", "resolve", {"input[name=result_note]": "Giấy khai sinh bản chính"})
    page.click("#documents details summary:text-is('Vào sổ kết quả')")
    form = page.locator("#result-form")
    form.locator("input[name=number]").fill("15")
    form.locator("input[name=symbol]").fill("GKS")
    form.locator("input[name=date]").fill("2026-01-05")
    form.locator("input[name=signer]").fill("Trần Văn Hùng")
    form.locator("input[type=file]").set_input_files(str(result))
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#result-record")
    assert "Số 15/GKS" in page.locator("#result-record").inner_text()
    page.screenshot(path=artifact("documents-dossier.png"), full_page=True)

    # 5. the next intake for the same ID number offers the earlier papers; ticking one reuses it
    values = fill_intake(page)
    page.wait_for_selector("#reuse-box input[name=reuse]")
    offered = page.locator("#reuse-box .reuse-row")
    texts = page.locator("#reuse-box .reuse-row label").all_inner_texts()
    assert any("Giấy chứng sinh" in t for t in texts) and any("Kết quả: Đăng ký khai sinh" in t for t in texts)
    reuse_row = offered.filter(has=page.locator("label", has_text="Giấy chứng sinh"))
    reuse_row.locator("input[name=reuse]").check()
    reuse_row.locator("select").select_option(values[1])
    # leaving the ID field asks again for the same citizen: what the clerk ticked stays ticked
    page.dispatch_event("input[name=id_number]", "change")
    page.wait_for_load_state("networkidle")
    assert reuse_row.locator("input[name=reuse]").is_checked()
    assert reuse_row.locator("select").input_value() == values[1]
    page.click("#save-intake")
    page.wait_for_url(re.compile(r"/ho-so/[^/?]+\?printed=01$"))
    new_code = page.locator("#dossier-code").inner_text()
    assert new_code != code
    states = page.locator("#documents td.digitisation-state")
    assert [states.nth(i).get_attribute("data-state") for i in range(2)] == ["not_digitised", "digitised"]
    assert f"Dùng lại ({code})" in page.locator("#documents").inner_text()
    page.screenshot(path=artifact("documents-reuse.png"), full_page=True)
