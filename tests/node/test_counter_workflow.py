"""Issue 12.7/12.8 at the desk: refusal during processing with form 03, hand-up to a named agency on form 06,
who collected the result on forms 06/07, the result note on the dossier page, full names not logins."""
from __future__ import annotations

import re

from appshell.sqlite import connect
from node import store
from tests.conftest import receive


def test_a_counter_dossier_found_ineligible_during_processing_is_refused_with_form_03(app, ctx, clerk):
    code = receive(ctx)["code"]
    store.act(ctx(), code, "start", {"handler": "Trần Văn Hùng"})
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert 'data-action="refuse_processing"' in page
    r = clerk.post(f"/ho-so/{code}/thao-tac/refuse_processing",
                   data={"reasons": "Người yêu cầu không thuộc đối tượng", "signer": "Trần Văn Hùng"})
    assert r.status_code == 303
    state = store.get(connect(app.config["DATABASE"]), code)
    assert state["status"] == 9 and state["refusal"]["stage"] == "processing"
    form = clerk.get(f"/bieu-mau/{code}/03").get_data(as_text=True)
    assert "PHIẾU TỪ CHỐI" in form and "Người yêu cầu không thuộc đối tượng" in form
    r = clerk.post(f"/ho-so/{code}/thao-tac/refuse_processing", data={"reasons": "lần nữa"})
    assert "Không thực hiện được" in clerk.get(r.headers["Location"]).get_data(as_text=True)


def test_hand_up_asks_for_the_agency_and_a_note_and_writes_its_row_on_form_06(app, ctx, clerk):
    code = receive(ctx, procedure_code="1.000894")["code"]
    store.act(ctx(), code, "start", {"handler": "hung"})
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert re.search(r'data-action="hand_up" data-confirm="Chuyển hồ sơ lên UBND tỉnh Quảng Ninh\?', page)
    assert 'name="to_unit" required maxlength="200" value="UBND tỉnh Quảng Ninh"' in page
    clerk.post(f"/ho-so/{code}/thao-tac/hand_up", data={"to_unit": "", "note": "Thuộc thẩm quyền cấp tỉnh",
                                                         "giver": "Nguyễn Thị Lan"})
    state = store.get(connect(app.config["DATABASE"]), code)
    assert state["holder"] == "central" and state["handoffs"][-1]["to_unit"] == "UBND tỉnh Quảng Ninh"
    sheet = clerk.get(f"/bieu-mau/{code}/06").get_data(as_text=True)
    body = sheet[sheet.index("<tbody>"):sheet.index("</tbody>")]
    assert "Nhận: UBND tỉnh Quảng Ninh" in body and "Thuộc thẩm quyền cấp tỉnh" in body
    assert "Cấp trên" not in body
    assert "Trần Văn Hùng" in body and ">hung<" not in body  # the handler typed as a login prints a full name


def test_who_collected_the_result_is_recorded_and_printed_and_the_result_note_shows(app, ctx, clerk, clock):
    code = receive(ctx)["code"]
    store.act(ctx(), code, "start", {"handler": "Trần Văn Hùng"})
    store.act(ctx(), code, "resolve", {"result_note": "Giấy khai sinh bản chính"})
    assert "Giấy khai sinh bản chính" in clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    r = clerk.post(f"/ho-so/{code}/thao-tac/return", data={"collected_name": "Trần Văn Bình",
                                                           "collected_id_number": "001090001234",
                                                           "collected_relationship": "Con trai", "rating": ""})
    assert r.status_code == 303
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Trần Văn Bình · 001090001234 (Con trai)" in page
    register = clerk.get("/bieu-mau/so-theo-doi").get_data(as_text=True)
    assert "Người nhận: Trần Văn Bình, 001090001234 (Con trai)" in register
    assert "Trần Văn Bình" in clerk.get(f"/bieu-mau/{code}/06").get_data(as_text=True)


def test_a_half_typed_collector_is_refused_and_nothing_changes(app, ctx, clerk):
    code = receive(ctx)["code"]
    store.act(ctx(), code, "start", {"handler": "Trần Văn Hùng"})
    store.act(ctx(), code, "resolve", {})
    clerk.post(f"/ho-so/{code}/thao-tac/return", data={"collected_name": "Trần Văn Bình"})
    assert store.get(connect(app.config["DATABASE"]), code)["status"] == 9


def test_histories_and_forms_name_staff_in_full_never_by_login(app, ctx, clerk):
    code = receive(ctx, actor="hung")["code"]
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    history = page[page.index('id="history"'):]
    assert "Trần Văn Hùng" in history and ">hung<" not in history
    receipt = clerk.get(f"/bieu-mau/{code}/01").get_data(as_text=True)
    assert "Trần Văn Hùng" in receipt and ">hung<" not in receipt
