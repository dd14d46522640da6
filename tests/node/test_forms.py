"""Printable forms 01–07 (Circular 03/2025, annex I): what each shows, when it is refused, who saw it."""
from __future__ import annotations

import re
from datetime import datetime

import pytest

from appshell.sqlite import connect, write_tx
from domain import workflow
from domain.codes import format_code
from node import reference, store
from node.qr import lookup_url, qr_svg
from node.views.forms import date_words, limit_label, place_name
from tests.conftest import AGENCY, APPLICANT, receive

FIVE_DAYS = "1.000894"  # Đăng ký kết hôn: 5 working days in the sample catalogue


def html(response) -> str:
    return response.get_data(as_text=True)


def register_page(response) -> str:
    """The register's text with the optional line breaks inside dossier codes removed."""
    return html(response).replace("<wbr>", "")


def access_rows(app, dossier: str) -> list[tuple[str, str, str]]:
    conn = connect(app.config["DATABASE"])
    try:
        return [(r["username"], r["dossier"], r["action"]) for r in conn.execute(
            "SELECT username, dossier, action FROM access_log WHERE dossier = ? ORDER BY id", (dossier,))]
    finally:
        conn.close()


def act(ctx, code, action, actor="lan", **params):
    return store.act(ctx(actor), code, action, params)


def register_online(ctx, seq=901):
    """An online registration (status 1), the only kind of dossier the desk can refuse."""
    c = ctx()
    code = format_code(AGENCY, c.now.date(), seq)
    with write_tx(c.conn):
        change = workflow.receive(
            procedure=reference.procedure(c.conn, FIVE_DAYS), applicant=APPLICANT,
            documents=[{"name": "Tờ khai đăng ký kết hôn", "kind": "original", "count": 1}],
            channel="online", return_method="desk", code=code, agency=AGENCY, now=c.now,
            calendar=c.calendar_cache.get(c.conn), catalogue_version=reference.version(c.conn, "catalogue"),
            actor="lan", register_no=seq, online=True)
        return store._write(c.conn, c, None, change, code)


# --- QR and small helpers ----------------------------------------------------------------------

def test_lookup_url_is_the_public_lookup_page_with_the_code_prefilled():
    assert (lookup_url("http://motcua.example.vn", "000.00.06.H56-260105-0001")
            == "http://motcua.example.vn/tra-cuu?ma=000.00.06.H56-260105-0001")


def test_qr_svg_is_an_inline_svg_without_xml_declaration_or_inline_styles():
    svg = qr_svg("http://motcua.example.vn/tra-cuu?ma=000.00.06.H56-260105-0001")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "style=" not in svg
    assert "viewBox=" in svg  # sized by CSS


def test_date_line_pads_days_below_ten_and_months_january_and_february():
    assert date_words("2026-01-05T09:00:00") == "ngày 05 tháng 01 năm 2026"
    assert date_words(datetime(2026, 11, 3)) == "ngày 03 tháng 11 năm 2026"
    assert date_words("2026-04-20T10:00:00") == "ngày 20 tháng 4 năm 2026"


def test_place_on_the_date_line_comes_from_the_commune_name():
    assert place_name("UBND xã Hòa Bình") == "Hòa Bình"
    assert place_name("Ủy ban nhân dân phường Hồng Gai") == "Hồng Gai"
    assert place_name("Trung tâm Phục vụ hành chính công") == "……………"


def test_processing_time_is_written_in_vietnamese():
    assert limit_label(5, "working_days") == "5 ngày làm việc"
    assert limit_label(0, "same_day") == "Trong ngày"
    assert limit_label(8, "working_hours") == "8 giờ làm việc"
    assert limit_label(30, "calendar_days") == "30 ngày"


# --- form 01 -----------------------------------------------------------------------------------

def test_receipt_shows_agency_code_applicant_procedure_documents_times_and_register_number(clerk, ctx):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    r = clerk.get(f"/bieu-mau/{d['code']}/01")
    assert r.status_code == 200
    page = html(r)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in page
    assert "UBND XÃ HÒA BÌNH" in page and "UBND TỈNH QUẢNG NINH" in page
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page and "Độc lập - Tự do - Hạnh phúc" in page
    assert "Hòa Bình, ngày 05 tháng 01 năm 2026" in page
    assert d["code"] in page
    assert "Nguyễn Văn Dũng" in page and "Thôn Đông, xã Hòa Bình" in page and "0912345678" in page
    assert "Đăng ký kết hôn" in page
    assert "Tờ khai" in page and "Bản chính" in page
    assert "5 ngày làm việc" in page
    assert "09 giờ 00 phút, ngày 05/01/2026" in page  # received at, as the form writes it (issue 12.4)
    due = datetime.fromisoformat(d["due_at"]).strftime("%H giờ %M phút, ngày %d/%m/%Y")
    assert re.fullmatch(r"\d\d giờ \d\d phút, ngày \d\d/\d\d/\d{4}", due) and due in page
    assert "Tại bộ phận một cửa" in page
    assert re.search(r"Quyển số: <strong>2026</strong>, Số thứ tự: <strong>1</strong>", page)
    assert "NGƯỜI NỘP HỒ SƠ" in page and "NGƯỜI TIẾP NHẬN HỒ SƠ" in page
    assert "Nguyễn Thị Lan" in page  # the clerk who received it, under the signature


def test_receipt_is_printed_in_two_copies_with_a_page_break_between(clerk, ctx):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    page = html(clerk.get(f"/bieu-mau/{d['code']}/01"))
    assert page.count('class="form-sheet form-01"') == 2
    first, second = page.index("Liên 1: Giao người nộp"), page.index("Liên 2: Lưu tại bộ phận một cửa")
    assert first < page.index('class="page-break"') < second


def test_receipt_carries_a_qr_code_and_the_lookup_address_in_text(clerk, ctx, app):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    page = html(clerk.get(f"/bieu-mau/{d['code']}/01"))
    url = lookup_url(app.config["MOTCUA"]["public_url"], d["code"])
    assert page.count("<svg") == 2  # one per copy: the signed QR of Circular 01/2023 (issue 12.2)
    assert page.count(url) == 2
    assert page.count("Mã QR xác thực văn bản</title>") == 2


def test_form_pages_have_a_print_button_and_a_print_stylesheet_and_no_inline_style_or_script(clerk, ctx, app):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    page = html(clerk.get(f"/bieu-mau/{d['code']}/01"))
    assert re.search(r'<button[^>]*class="no-print"[^>]*data-print', page)
    assert re.search(r'<link[^>]+print\.css[^>]+media="all"', page)
    assert "style=" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    css = clerk.get("/static/print.css")
    text = css.get_data(as_text=True)
    css.close()
    assert "size: A4" in text and ".no-print" in text and "@media screen" in text


def test_receipt_of_an_online_registration_not_yet_accepted_is_refused_with_a_message(clerk, ctx):
    d = register_online(ctx)
    r = clerk.get(f"/bieu-mau/{d['code']}/01")
    assert r.status_code == 409
    assert "chưa được tiếp nhận" in html(r)


# --- forms 02–05 ---------------------------------------------------------------------------------

def test_supplement_request_shows_the_latest_items_reason_and_contact_officer(clerk, ctx, clock):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    act(ctx, d["code"], "start", handler="Trần Văn Hùng")
    act(ctx, d["code"], "supplement", items="Bản sao giấy khai sinh", reason="Thiếu giấy tờ", officer="Lê Thị Mai")
    clock.advance(hours=2)
    act(ctx, d["code"], "supplement_received")
    clock.advance(hours=1)
    act(ctx, d["code"], "supplement", items="Ảnh 4x6 (02 ảnh)", reason="Ảnh không đúng quy cách",
        officer="Phạm Văn Tâm")
    r = clerk.get(f"/bieu-mau/{d['code']}/02")
    assert r.status_code == 200
    page = html(r)
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in page
    assert d["code"] in page and "Nguyễn Văn Dũng" in page and "Đăng ký kết hôn" in page
    assert "Ảnh 4x6 (02 ảnh)" in page and "Ảnh không đúng quy cách" in page and "Phạm Văn Tâm" in page
    assert "Bản sao giấy khai sinh" not in page  # only the latest request
    assert "Lần yêu cầu thứ 2" in page


def test_refusal_form_shows_applicant_request_reasons_and_signer(clerk, ctx):
    d = register_online(ctx)
    act(ctx, d["code"], "refuse", reasons="Hồ sơ không thuộc thẩm quyền giải quyết của xã", signer="Trần Văn Hùng")
    r = clerk.get(f"/bieu-mau/{d['code']}/03")
    assert r.status_code == 200
    page = html(r)
    assert "PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ" in page
    assert "Nguyễn Văn Dũng" in page and "Đăng ký kết hôn" in page
    assert "Hồ sơ không thuộc thẩm quyền giải quyết của xã" in page and "Trần Văn Hùng" in page


def test_apology_and_extension_shows_received_date_original_due_reason_and_new_due(clerk, ctx, clock):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    act(ctx, d["code"], "start", handler="Trần Văn Hùng")
    clock.advance(days=2)
    act(ctx, d["code"], "extend", days=3, reason="Cần xác minh thêm thông tin tại nơi cư trú")
    state = store.get(ctx().conn, d["code"])
    r = clerk.get(f"/bieu-mau/{d['code']}/04")
    assert r.status_code == 200
    page = html(r)
    assert "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN" in page
    assert d["code"] in page and "05/01/2026" in page
    fmt = "%H:%M %d/%m/%Y"
    assert datetime.fromisoformat(d["due_at"]).strftime(fmt) in page
    assert "Cần xác minh thêm thông tin tại nơi cư trú" in page
    assert datetime.fromisoformat(state["extensions"][-1]["new_due"]).strftime(fmt) in page
    assert "3 ngày làm việc" in page


def test_stop_notice_shows_code_applicant_and_reason_after_a_withdrawal(clerk, ctx):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    act(ctx, d["code"], "withdraw", reason="Gia đình thay đổi kế hoạch")
    r = clerk.get(f"/bieu-mau/{d['code']}/05")
    assert r.status_code == 200 and "Gia đình thay đổi kế hoạch" in html(r)
    act(ctx, d["code"], "stop", reason="Công dân xin rút hồ sơ", signer="Trần Văn Hùng")
    page = html(clerk.get(f"/bieu-mau/{d['code']}/05"))
    assert "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ" in page
    assert d["code"] in page and "Nguyễn Văn Dũng" in page
    assert "Công dân xin rút hồ sơ" in page and "Trần Văn Hùng" in page


@pytest.mark.parametrize("form_no, words", [
    ("02", "chưa có yêu cầu bổ sung"),
    ("03", "không bị từ chối"),
    ("04", "chưa được gia hạn"),
    ("05", "không có yêu cầu rút hồ sơ"),
])
def test_forms_02_to_05_answer_409_with_a_message_when_the_dossier_has_no_such_action(clerk, ctx, app,
                                                                                        form_no, words):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    r = clerk.get(f"/bieu-mau/{d['code']}/{form_no}")
    assert r.status_code == 409
    page = html(r)
    assert words in page and d["code"] in page
    assert 'class="form-sheet' not in page


# --- form 06 -----------------------------------------------------------------------------------

def test_process_control_sheet_has_a_row_per_handover_with_times_people_and_results(clerk, ctx, clock):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    clock.advance(minutes=30)
    act(ctx, d["code"], "start", handler="Trần Văn Hùng")
    clock.advance(hours=1)
    act(ctx, d["code"], "hand_off", to_unit="UBND tỉnh Quảng Ninh", giver="Trần Văn Hùng",
        receiver="Đỗ Minh Quân", note="Xin ý kiến thẩm định")
    clock.set(datetime(2026, 1, 6, 14, 0))
    act(ctx, d["code"], "hand_back", note="Đã có ý kiến")
    clock.set(datetime(2026, 1, 7, 10, 0))
    act(ctx, d["code"], "resolve", actor="hung", result_note="Đã cấp giấy chứng nhận")
    clock.set(datetime(2026, 1, 8, 8, 15))
    act(ctx, d["code"], "return")
    r = clerk.get(f"/bieu-mau/{d['code']}/06")
    assert r.status_code == 200
    page = html(r)
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in page and d["code"] in page
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == 5  # desk -> handler, out, back, resolution, return
    assert "Bộ phận Một cửa" in rows[0] and "Trần Văn Hùng" in rows[0] and "09:30 05/01/2026" in rows[0]
    assert "Nguyễn Thị Lan" in rows[0]  # the clerk who handed it over
    assert "UBND tỉnh Quảng Ninh" in rows[1] and "Đỗ Minh Quân" in rows[1] and "10:30 05/01/2026" in rows[1]
    assert "Giao: UBND xã Hòa Bình" in rows[1] and AGENCY not in rows[1]  # the agency's name, not its code
    assert "14:00 06/01/2026" in rows[2] and "Trước hạn" in rows[2]
    assert "10:00 07/01/2026" in rows[3] and "Trước hạn" in rows[3] and "Đã cấp giấy chứng nhận" in rows[3]
    assert "08:15 08/01/2026" in rows[4] and "Nguyễn Văn Dũng" in rows[4]
    assert "Cơ quan phối hợp giải quyết hồ sơ: UBND tỉnh Quảng Ninh" in page


def test_process_control_sheet_of_a_dossier_still_at_the_desk_says_it_was_not_handed_over(clerk, ctx):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    page = html(clerk.get(f"/bieu-mau/{d['code']}/06"))
    assert "chưa được chuyển giao" in page


# --- form 07 -----------------------------------------------------------------------------------

def test_register_lists_dossiers_received_in_the_range_by_register_number_and_not_others(clerk, ctx, clock):
    first = receive(ctx, procedure_code=FIVE_DAYS)
    clock.set(datetime(2026, 1, 20, 10, 0))
    second = receive(ctx, applicant=dict(APPLICANT, name="Lê Thị Hoa", phone="0987654321",
                                         address="Thôn Tây, xã Hòa Bình"))
    act(ctx, second["code"], "start", handler="Trần Văn Hùng")
    act(ctx, second["code"], "hand_off", to_unit="UBND tỉnh Quảng Ninh")
    clock.set(datetime(2026, 2, 2, 8, 0))
    february = receive(ctx, applicant=dict(APPLICANT, name="Hoàng Văn Nam"))
    r = clerk.get("/bieu-mau/so-theo-doi?tu=2026-01-01&den=2026-01-31")
    assert r.status_code == 200
    page = register_page(r)
    assert "SỔ THEO DÕI HỒ SƠ" in page
    assert first["code"] in page and second["code"] in page and february["code"] not in page
    assert page.index(first["code"]) < page.index(second["code"])
    assert "Lê Thị Hoa" in page and "0987654321" in page and "Thôn Tây, xã Hòa Bình" in page  # full data
    assert "Hoàng Văn Nam" not in page
    row = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(second["code"]) + r".*?</tr>", page, re.S).group(0)
    assert "UBND tỉnh Quảng Ninh" in row and "10:00 20/01/2026" in row  # lead agency and sent time


def test_register_defaults_to_the_current_month(clerk, ctx, clock):
    january = receive(ctx, procedure_code=FIVE_DAYS)
    clock.set(datetime(2026, 2, 3, 9, 0))
    february = receive(ctx, procedure_code=FIVE_DAYS)
    page = register_page(clerk.get("/bieu-mau/so-theo-doi"))
    assert february["code"] in page and january["code"] not in page
    assert 'value="01/02/2026"' in page and 'value="28/02/2026"' in page  # dd/mm/yyyy (issue 12.10)


def test_register_with_a_bad_date_answers_400_with_a_message(clerk):
    r = clerk.get("/bieu-mau/so-theo-doi?tu=31/02/2026&den=2026-01-31")
    assert r.status_code == 400 and "Ngày không hợp lệ" in html(r)


def test_register_view_writes_one_access_log_row_for_the_whole_range(clerk, ctx, app):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    clerk.get("/bieu-mau/so-theo-doi?tu=2026-01-01&den=2026-01-31")
    assert access_rows(app, "*register*") == [("lan", "*register*", "print_register:2026-01-01..2026-01-31")]
    assert access_rows(app, d["code"]) == []


# --- access, login, not found -----------------------------------------------------------------

def test_every_dossier_form_view_writes_an_access_log_row(clerk, ctx, app):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    act(ctx, d["code"], "start", handler="Trần Văn Hùng")
    act(ctx, d["code"], "extend", days=1, reason="Chờ xác minh")
    act(ctx, d["code"], "supplement", items="Tờ khai có chữ ký", reason="Tờ khai chưa ký")
    act(ctx, d["code"], "withdraw", reason="Không có nhu cầu")
    for form_no in ("01", "02", "04", "05", "06"):
        assert clerk.get(f"/bieu-mau/{d['code']}/{form_no}").status_code == 200
    assert access_rows(app, d["code"]) == [("lan", d["code"], f"print_form_{n}")
                                           for n in ("01", "02", "04", "05", "06")]


def test_forms_require_login(client, ctx):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    for url in (f"/bieu-mau/{d['code']}/01", "/bieu-mau/so-theo-doi"):
        r = client.get(url)
        assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]


@pytest.mark.parametrize("suffix", ["000.00.06.H56-260105-0999/01", "{code}/07", "{code}/08", "{code}/1"])
def test_unknown_dossier_or_form_number_is_404(clerk, ctx, suffix):
    d = receive(ctx, procedure_code=FIVE_DAYS)
    assert clerk.get("/bieu-mau/" + suffix.format(code=d["code"])).status_code == 404
