"""Issue 12.6: lists people can trust — true totals, paging, filters, sort by due, days overdue, exports."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import openpyxl

from node import store
from tests.conftest import APPLICANT, receive


def many(ctx, n, **kw):
    return [receive(ctx, applicant=dict(APPLICANT, name=f"Nguyễn Văn Số {chr(65 + i % 26)}"), **kw)["code"]
            for i in range(n)]


def test_badges_and_headings_show_true_totals_beyond_the_first_rows_and_lists_page(ctx, clerk):
    codes = many(ctx, 57)
    home = clerk.get("/").get_data(as_text=True)
    assert re.search(r'id="badge-hom-nay"><span class="count">57</span>', home)
    assert "Xem tất cả 57 hồ sơ" in home
    first = clerk.get("/danh-sach/hom-nay").get_data(as_text=True)
    assert re.search(r'id="list-total">57<', first) and "Trang 1/2 · 57 hồ sơ" in first
    second = clerk.get("/danh-sach/hom-nay", query_string={"trang": 2}).get_data(as_text=True)
    shown = set(re.findall(r"000\.00\.06\.H56-\d{6}-\d{4}", first + second))
    assert shown == set(codes)


def test_home_shows_online_dossiers_waiting_results_ready_and_what_is_due_today(app, ctx, clerk):
    from tests.node.test_forms import register_online
    register_online(ctx)
    done = receive(ctx)["code"]
    store.act(ctx(), done, "start", {"handler": "Trần Văn Hùng"})
    store.act(ctx(), done, "resolve", {})
    receive(ctx)  # same-day procedure: due today
    home = clerk.get("/").get_data(as_text=True)
    assert re.search(r'id="badge-cho-tiep-nhan"><span class="count">1</span>', home)
    assert re.search(r'id="badge-co-ket-qua"><span class="count">1</span>', home)
    assert re.search(r'id="badge-den-han-hom-nay"><span class="count">1</span>', home)


def test_filters_by_procedure_channel_handler_and_date_range_and_sort_by_due(ctx, clerk, clock):
    slow = receive(ctx, procedure_code="1.000894")["code"]  # 5 working days
    quick = receive(ctx)["code"]  # same day
    store.act(ctx(), slow, "start", {"handler": "Trần Văn Hùng"})
    clock.set(datetime(2026, 1, 6, 9, 0))
    later = receive(ctx)["code"]
    page = clerk.get("/danh-sach", query_string={"thu-tuc": "1.000894"}).get_data(as_text=True)
    assert slow in page and quick not in page
    page = clerk.get("/danh-sach", query_string={"can-bo": "Trần Văn Hùng"}).get_data(as_text=True)
    assert slow in page and quick not in page
    page = clerk.get("/danh-sach", query_string={"kenh": "post"}).get_data(as_text=True)
    assert slow not in page and "Không có hồ sơ." in page
    page = clerk.get("/danh-sach", query_string={"tu": "06/01/2026", "den": "06/01/2026"}).get_data(as_text=True)
    assert later in page and slow not in page
    page = clerk.get("/danh-sach", query_string={"linh-vuc": "Hộ tịch", "sap-xep": "han-tra"}).get_data(as_text=True)
    assert page.index(quick) < page.index(later) < page.index(slow)
    r = clerk.get("/danh-sach", query_string={"tu": "31/02/2026"})
    assert r.status_code == 400 and "không hợp lệ" in r.get_data(as_text=True)


def test_overdue_lists_show_how_many_days_late(ctx, clerk, clock):
    receive(ctx)  # due 05/01 (same day)
    clock.set(datetime(2026, 1, 8, 10, 0))
    page = clerk.get("/danh-sach/qua-han").get_data(as_text=True)
    assert "Quá hạn 3 ngày" in page


def test_csv_and_xlsx_exports_mask_id_numbers_and_neutralise_formulas(app, ctx, clerk):
    receive(ctx)
    receive(ctx, applicant=dict(APPLICANT, address="Thôn Đông"))
    store.act(ctx(), receive(ctx)["code"], "assign", {"handler": "=cmd|' /C calc'!A0"})
    r = clerk.get("/danh-sach/hom-nay", query_string={"xuat": "csv"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][1] == "Mã hồ sơ" and len(rows) == 4
    assert "001203004567" not in text and "0012******67" in text
    assert "'=cmd|' /C calc'!A0" in [cell for row in rows for cell in row]
    x = clerk.get("/danh-sach/hom-nay", query_string={"xuat": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO(x.get_data()))
    cells = [c.value for row in book.active.iter_rows() for c in row if c.value is not None]
    assert "0012******67" in cells and "001203004567" not in cells
    [handler] = [c for row in book.active.iter_rows() for c in row if c.value == "=cmd|' /C calc'!A0"]
    assert handler.data_type == "s"  # a string cell in XLSX, never a formula
    assert book.active["A1"].value == "Hồ sơ tiếp nhận hôm nay"
