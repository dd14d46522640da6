"""Central's II.06a report: page, JSON API, XLSX (reopened with openpyxl) and CSV exports, over
dossiers that fake nodes pushed through the real signed ingest."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import pytest

from domain import exports, reports, workflow
from domain.catalogue import load_sample_catalogue
from domain.codes import format_code
from domain.dossier import apply_event
from tests.central.conftest import AGENCY, APPLICANT, CALENDAR, CENTRAL_ADMIN_PASSWORD, OTHER_AGENCY, FakeNode, add_node

JAN = {"from": "2026-01-01", "to": "2026-01-31"}
PROCEDURES = {p.code: p for p in load_sample_catalogue()[1]}


@pytest.fixture
def central_app(central_app):
    """Central with the reports blueprint (registered here too until central registers it)."""
    from central.views import reports as views
    if "reports" not in central_app.blueprints:
        central_app.register_blueprint(views.bp)
    central_app.config["WTF_CSRF_ENABLED"] = False
    return central_app


def receive(fake: FakeNode, procedure_code: str, channel: str = "in_person") -> str:
    fake.day_seq += 1
    code = format_code(fake.agency, fake.clock.now.date(), fake.day_seq)
    change = workflow.receive(procedure=PROCEDURES[procedure_code], applicant=APPLICANT,
                              documents=[{"name": "Tờ khai", "kind": "original", "count": 1}], channel=channel,
                              return_method="desk", code=code, agency=fake.agency, now=fake.clock.now,
                              calendar=CALENDAR, catalogue_version=1, actor="lan", register_no=fake.day_seq)
    fake.states[code] = apply_event(None, fake.append(change.type, code, change.data))
    return code


def act(fake, code, action, when, **params):
    fake.clock.set(when)
    fake.act(code, workflow.ACTIONS[action][0], params)


@pytest.fixture
def communes(central, conn, clock):
    """Two communes' Januaries, pushed to central through the signed ingest."""
    hoa_binh = FakeNode(clock, AGENCY)
    assert hoa_binh.enrol(central, add_node(conn, clock, AGENCY, "UBND xã Hòa Bình")).status_code == 200
    dong_tien = FakeNode(clock, OTHER_AGENCY)
    assert dong_tien.enrol(central, add_node(conn, clock, OTHER_AGENCY, "UBND phường Đông Tiến")).status_code == 200
    clock.set(datetime(2025, 12, 29, 9, 0))
    carried = receive(hoa_binh, "1.000894")
    clock.set(datetime(2026, 1, 5, 9, 0))
    early = receive(hoa_binh, "1.000894", "online")
    late = receive(hoa_binh, "2.001035", "post")
    pending = receive(hoa_binh, "1.001776")
    withdrawn = receive(dong_tien, "1.004873")
    paused = receive(dong_tien, "1.001776")
    overdue = receive(dong_tien, "2.001035")
    for fake, code in ((hoa_binh, carried), (hoa_binh, early), (hoa_binh, late), (hoa_binh, pending),
                       (dong_tien, paused), (dong_tien, overdue)):
        act(fake, code, "start", datetime(2026, 1, 5, 10, 0))
    act(hoa_binh, carried, "resolve", datetime(2026, 1, 6, 9, 0))
    act(hoa_binh, early, "resolve", datetime(2026, 1, 7, 9, 0))
    act(hoa_binh, early, "return", datetime(2026, 1, 8, 9, 0), rating="5")
    act(hoa_binh, late, "resolve", datetime(2026, 1, 12, 9, 0))
    act(dong_tien, withdrawn, "withdraw", datetime(2026, 1, 9, 9, 0), reason="Công dân xin rút")
    act(dong_tien, paused, "supplement", datetime(2026, 1, 20, 9, 0), items="Giấy xác nhận", reason="Thiếu")
    clock.set(datetime(2026, 3, 2, 9, 0))
    for fake in (hoa_binh, dong_tien):
        assert fake.push(central).status_code == 200
    return hoa_binh, dong_tien


@pytest.fixture
def admin(central_app):
    client = central_app.test_client()
    r = client.post("/dang-nhap", data={"username": "admin", "password": CENTRAL_ADMIN_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def token(conn, clock):
    from appshell import accounts
    from central import roles
    return accounts.create_token(conn, accounts.by_name(conn, "admin"), "test", clock.now, prefix=roles.TOKEN_PREFIX)


def expected(*fakes, agency=None) -> dict:
    rows = [reports.row_from_state(s) for fake in fakes for s in fake.states.values()]
    rows = [r for r in rows if agency is None or r["agency"] == agency]
    names = {"agency": {AGENCY: "UBND xã Hòa Bình", OTHER_AGENCY: "UBND phường Đông Tiến"}}
    doc = reports.grouped(rows, date(2026, 1, 1), date(2026, 1, 31), datetime(2026, 3, 2, 9, 0)).to_dict(names)
    doc["ratings"] = reports.ratings(rows, date(2026, 1, 1), date(2026, 1, 31)).as_dict()
    return doc


def test_the_api_report_equals_the_domain_figures_of_the_pushed_dossiers(central_app, communes, token):
    r = central_app.test_client().get("/api/v1/reports/ii06a", query_string=JAN,
                                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    doc = r.get_json()
    assert doc == expected(*communes)
    assert [(row["agency_name"], row["field"]) for row in doc["rows"]] == [
        ("UBND xã Hòa Bình", "Bảo trợ xã hội"), ("UBND xã Hòa Bình", "Chứng thực"), ("UBND xã Hòa Bình", "Hộ tịch"),
        ("UBND phường Đông Tiến", "Bảo trợ xã hội"), ("UBND phường Đông Tiến", "Chứng thực"),
        ("UBND phường Đông Tiến", "Hộ tịch")]
    total = doc["total"]
    assert (total["carried_over"], total["received_in_person"], total["received_online"], total["received_post"]) \
        == (1, 4, 1, 1)
    assert (total["resolved_early"], total["resolved_late"], total["pending_within"], total["pending_overdue"],
            total["paused"], total["withdrawn"]) == (2, 1, 1, 1, 1, 1)


def test_the_report_of_one_commune_equals_that_communes_own_figures(central_app, communes, token):
    r = central_app.test_client().get("/api/v1/reports/ii06a", query_string=dict(JAN, agency=OTHER_AGENCY),
                                      headers={"Authorization": f"Bearer {token}"})
    assert r.get_json() == expected(*communes, agency=OTHER_AGENCY)
    assert {row["agency"] for row in r.get_json()["rows"]} == {OTHER_AGENCY}


def test_the_api_needs_a_bearer_token_and_answers_in_the_api_error_shape(central_app, token):
    client = central_app.test_client()
    r = client.get("/api/v1/reports/ii06a", query_string=JAN)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    r = client.get("/api/v1/reports/ii06a", query_string=JAN, headers={"Authorization": "Bearer mcc_wrong"})
    assert r.status_code == 401
    r = client.get("/api/v1/reports/ii06a", query_string={"from": "2026-02-01", "to": "2026-01-01"},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request"


def test_the_ii06a_page_shows_every_commune_and_field_with_subtotals_and_total(admin, communes):
    page = admin.get("/bao-cao", query_string=JAN).get_data(as_text=True)
    assert "mẫu II.06a" in page
    assert page.count('<tr class="row">') == 6 and page.count('<tr class="subtotal">') == 2
    assert "Cộng UBND xã Hòa Bình" in page and "Cộng UBND phường Đông Tiến" in page
    assert "kỳ trước chuyển sang 1, tiếp nhận trong kỳ 6: trực tiếp 4, trực tuyến 1, qua bưu chính 1" in page
    assert "trong hạn 1, quá hạn 1, tạm dừng chờ bổ sung 1" in page


def test_the_page_filters_by_commune_and_field(admin, communes):
    page = admin.get("/bao-cao", query_string=dict(JAN, **{"don-vi": AGENCY, "linh-vuc": "Chứng thực"})).get_data(
        as_text=True)
    assert page.count('<tr class="row">') == 1 and "Đông Tiến</td>" not in page


def test_the_report_needs_a_login(central_app):
    r = central_app.test_client().get("/bao-cao")
    assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]


def test_a_bad_period_is_explained_in_vietnamese(admin):
    r = admin.get("/bao-cao", query_string={"from": "31/13/2026"})
    assert r.status_code == 400 and "không hợp lệ" in r.get_data(as_text=True)


def test_the_xlsx_export_reopens_with_vietnamese_text_intact_and_numbers_as_numbers(admin, communes):
    import openpyxl
    r = admin.get("/bao-cao/ii06a.xlsx", query_string=JAN)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="bao-cao-II06a-20260101-20260131.xlsx"' in r.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    sheet = book["II.06a"]
    assert sheet["A1"].value == exports.TITLE
    assert sheet["A2"].value == "Kỳ báo cáo: từ ngày 01/01/2026 đến ngày 31/01/2026"
    headers = [c.value for c in sheet[5]]
    assert headers[:6] == ["STT", "Đơn vị", "Lĩnh vực", "Tổng số hồ sơ", "Kỳ trước chuyển sang",
                           "Tiếp nhận trong kỳ"]
    assert "Đã giải quyết" in headers and "Đang giải quyết" in headers and "Tỷ lệ đúng hạn (%)" in headers
    assert [c.value for c in sheet[6]][5:9] == ["Tổng", "Trực tiếp", "Trực tuyến", "Qua bưu chính"]
    assert "F5:I5" in {str(m) for m in sheet.merged_cells.ranges}  # "Tiếp nhận trong kỳ" spans its columns
    body = [row for row in sheet.iter_rows(min_row=7, values_only=True) if row[1]]
    first = body[0]
    assert first[:3] == (1, "UBND xã Hòa Bình", "Bảo trợ xã hội")
    column = {key: 3 + i for i, key in enumerate(exports.II06A_COLUMNS)}
    for row in body[:-1]:
        for key, index in column.items():
            assert isinstance(row[index], (int, float)) or row[index] is None, (row, key)
    total = next(row for row in body if row[1] == "Tổng cộng")
    want = expected(*communes)["total"]
    for key in ("total", "carried_over", "received", "received_online", "resolved_early", "resolved_late",
                "pending_within", "pending_overdue", "paused", "withdrawn"):
        assert total[column[key]] == want[key] and type(total[column[key]]) is int, key
    assert total[column["on_time_rate"]] == round(want["on_time_rate"] * 100, 1)
    assert sum(row[column["received"]] for row in body if isinstance(row[0], int)) == want["received"]


def test_the_csv_export_is_utf8_with_a_bom_and_plain_numbers(admin, communes):
    r = admin.get("/bao-cao/ii06a.csv", query_string=JAN)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.data[:3] == b"\xef\xbb\xbf"
    rows = list(csv.reader(io.StringIO(r.data[3:].decode("utf-8"))))
    assert rows[0][:5] == ["STT", "Đơn vị", "Lĩnh vực", "Tổng số hồ sơ", "Kỳ trước chuyển sang"]
    assert "Tiếp nhận trong kỳ - Trực tuyến" in rows[0]
    assert rows[1][:3] == ["1", "UBND xã Hòa Bình", "Bảo trợ xã hội"]
    assert rows[-1][1] == "Tổng cộng" and rows[-1][3] == "7"


def test_centrals_date_boxes_are_dd_mm_yyyy_text_read_on_the_server_whatever_the_browsers_locale(admin, communes):
    typed = admin.get("/bao-cao", query_string={"from": "01/01/2026", "to": "31/01/2026"}).get_data(as_text=True)
    iso = admin.get("/bao-cao", query_string=JAN).get_data(as_text=True)
    assert typed.count('<tr class="row">') == iso.count('<tr class="row">') == 6
    for page in (typed, admin.get("/").get_data(as_text=True)):
        boxes = re.findall(r'<input name="(?:from|to)"[^>]*>', page)
        assert len(boxes) == 2 and 'type="date"' not in page
        for box in boxes:
            assert 'placeholder="dd/mm/yyyy"' in box and 'pattern="' in box
    assert 'value="01/01/2026"' in typed and 'value="31/01/2026"' in typed
    bad = admin.get("/bao-cao", query_string={"from": "2026-31-01"})
    assert bad.status_code == 400 and "ngày/tháng/năm (dd/mm/yyyy)" in bad.get_data(as_text=True)
    assert "năm-tháng-ngày" not in bad.get_data(as_text=True)
