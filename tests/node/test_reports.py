"""The commune's report page (/bao-cao), its JSON and its XLSX/CSV exports, on a real node database."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest

from appshell.sqlite import connect
from domain import reports
from node import store
from tests.conftest import AGENCY, receive

JAN = {"from": "2026-01-01", "to": "2026-01-31"}


@pytest.fixture
def app(app):
    """The node app with the reports blueprint (registered here too until node/app.py registers it)."""
    from node.views import reports as views
    if "reports" not in app.blueprints:
        app.register_blueprint(views.bp)
    return app


def act(ctx, clock, code, action, when, **params):
    clock.set(when)
    return store.act(ctx(), code, action, params)


@pytest.fixture
def january(ctx, clock):
    """A small January at the desk: resolved early, late, pending, overdue, paused, withdrawn, rated."""
    clock.set(datetime(2025, 12, 29, 9, 0))
    carried = receive(ctx, procedure_code="1.000894")["code"]             # Hộ tịch, 5 working days
    clock.set(datetime(2026, 1, 5, 9, 0))
    early = receive(ctx, procedure_code="1.000894")["code"]
    late = receive(ctx, procedure_code="2.001035")["code"]                 # Chứng thực, 2 working days
    paused = receive(ctx, procedure_code="1.001776")["code"]               # Bảo trợ xã hội, 22 days
    withdrawn = receive(ctx, procedure_code="1.004873")["code"]
    clock.set(datetime(2026, 1, 26, 9, 0))
    overdue = receive(ctx, procedure_code="2.001035")["code"]
    within = receive(ctx, procedure_code="1.001776")["code"]
    for code in (carried, early, late, paused, overdue, within):
        act(ctx, clock, code, "start", datetime(2026, 1, 26, 10, 0) if code in (overdue, within)
            else datetime(2026, 1, 5, 10, 0))
    act(ctx, clock, carried, "resolve", datetime(2026, 1, 6, 9, 0))
    act(ctx, clock, early, "resolve", datetime(2026, 1, 7, 9, 0))
    act(ctx, clock, early, "return", datetime(2026, 1, 8, 9, 0), rating="5")
    act(ctx, clock, carried, "return", datetime(2026, 1, 8, 10, 0), rating="2")
    act(ctx, clock, late, "resolve", datetime(2026, 1, 12, 9, 0))
    act(ctx, clock, paused, "supplement", datetime(2026, 1, 20, 9, 0), items="Giấy xác nhận", reason="Thiếu")
    act(ctx, clock, withdrawn, "withdraw", datetime(2026, 1, 9, 9, 0), reason="Công dân xin rút")
    clock.set(datetime(2026, 3, 2, 9, 0))
    return {"carried": carried, "early": early, "late": late, "paused": paused, "withdrawn": withdrawn,
            "overdue": overdue, "within": within}


def states(app):
    conn = connect(app.config["DATABASE"])
    try:
        return [store.get(conn, r[0]) for r in conn.execute("SELECT code FROM dossiers")]
    finally:
        conn.close()


def test_the_report_page_shows_the_communes_figures_for_the_period(app, clerk, january):
    page = clerk.get("/bao-cao", query_string=JAN).get_data(as_text=True)
    assert "Báo cáo tình hình giải quyết thủ tục hành chính" in page
    assert "Kỳ báo cáo: từ 01/01/2026 đến 31/01/2026" in page
    assert "kỳ trước chuyển sang 1, tiếp nhận trong kỳ 6" in page
    assert "trước hạn 2, đúng hạn 0, quá hạn 1" in page
    assert "trong hạn 1, quá hạn 1, tạm dừng chờ bổ sung 1" in page
    for field in ("Hộ tịch", "Chứng thực", "Bảo trợ xã hội"):
        assert f"<td>{field}</td>" in page
    assert "Rất hài lòng" in page and "Không hài lòng" in page


def test_the_report_json_equals_the_domain_figures_of_the_same_dossiers(app, clerk, january):
    doc = clerk.get("/bao-cao.json", query_string=JAN).get_json()
    rows = [reports.row_from_state(s) for s in states(app)]
    now = datetime(2026, 3, 2, 9, 0)
    table = reports.grouped(rows, date(2026, 1, 1), date(2026, 1, 31), now)
    expected = table.to_dict({"agency": {AGENCY: "UBND xã Hòa Bình"}})
    expected["ratings"] = reports.ratings(rows, date(2026, 1, 1), date(2026, 1, 31)).as_dict()
    assert doc == expected
    total = doc["total"]
    assert (total["carried_over"], total["received"], total["resolved"], total["withdrawn"], total["pending"]) \
        == (1, 6, 3, 1, 3)
    assert (total["resolved_early"], total["resolved_late"], total["pending_overdue"], total["paused"]) \
        == (2, 1, 1, 1)
    assert total["on_time_rate"] == round(4 / 6, 4)  # 2 early + within + paused over 3 resolved + 3 pending
    assert doc["ratings"]["counts"] == {"5": 1, "4": 0, "3": 0, "2": 1, "1": 0}
    assert {r["field"] for r in doc["rows"]} == {"Hộ tịch", "Chứng thực", "Bảo trợ xã hội"}


def test_the_report_can_be_narrowed_to_one_field(clerk, january):
    doc = clerk.get("/bao-cao.json", query_string=dict(JAN, **{"linh-vuc": "Chứng thực"})).get_json()
    assert [r["field"] for r in doc["rows"]] == ["Chứng thực"]
    assert doc["total"]["received"] == 2 and doc["total"]["resolved_late"] == 1


def test_the_report_api_needs_a_bearer_token_and_gives_the_same_json(app, clerk, january):
    from appshell import accounts
    from node import roles
    conn = connect(app.config["DATABASE"])
    token = accounts.create_token(conn, accounts.by_name(conn, "lan"), "test", datetime(2026, 1, 5, 9, 0),
                                  prefix=roles.TOKEN_PREFIX)
    conn.close()
    r = app.test_client().get("/api/v1/reports/ii06a", query_string=JAN)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    r = app.test_client().get("/api/v1/reports/ii06a", query_string=JAN,
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.get_json() == clerk.get("/bao-cao.json", query_string=JAN).get_json()


def test_a_bad_period_is_explained_in_vietnamese(clerk):
    r = clerk.get("/bao-cao", query_string={"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 400 and "Ngày kết thúc kỳ báo cáo phải sau ngày bắt đầu" in r.get_data(as_text=True)
    assert clerk.get("/bao-cao.json", query_string={"from": "x"}).status_code == 400


def test_the_report_needs_a_login(client):
    r = client.get("/bao-cao")
    assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]


def test_an_empty_period_says_so(clerk):
    page = clerk.get("/bao-cao", query_string={"from": "2020-01-01", "to": "2020-01-31"}).get_data(as_text=True)
    assert "Không có hồ sơ nào trong kỳ báo cáo" in page


def test_the_xlsx_export_reopens_with_vietnamese_headers_and_numeric_cells(clerk, january):
    import openpyxl
    r = clerk.get("/bao-cao/ii06a.xlsx", query_string=JAN)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    cells = {c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
    assert {"Tiếp nhận trong kỳ", "Trực tuyến", "Đã giải quyết", "Hộ tịch", "UBND xã Hòa Bình"} <= cells
    total = next(row for row in sheet.iter_rows(values_only=True) if row[1] == "Tổng cộng")
    assert total[3] == 7 and isinstance(total[3], int)  # total = carried over + received


def test_the_csv_export_is_utf8_with_a_bom(clerk, january):
    r = clerk.get("/bao-cao/ii06a.csv", query_string=JAN)
    assert r.data.startswith(b"\xef\xbb\xbf")
    text = r.data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("STT,Đơn vị,Lĩnh vực,Tổng số hồ sơ")
    assert "Tổng cộng" in text
