"""The II.06a report as a spreadsheet: XLSX (xlsxwriter) and CSV (UTF-8 with BOM).

Both the node (its own report) and central (every commune) export with these functions, from a
``domain.reports.Table`` keyed by (agency, field). Numbers are written as numbers (the XLSX
cells are numeric, so totals can be re-summed in Excel/LibreOffice); Vietnamese text is written
as Unicode strings (XLSX) or UTF-8 with a byte-order mark (CSV), which Excel needs to guess the
encoding of a CSV file.

A CSV cell has no type, so a spreadsheet evaluates any text that looks like a formula. Unit and
field names come from settings, the catalogue and what nodes send, so every text cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading ``'`` (OWASP
"CSV injection"); numbers are written as numbers. XLSX cells are typed (``write_string``), so they
are never formulas and are written unchanged.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime

from .reports import Figures, Table

# The II.06a columns after STT / unit / field: (group header, [(figure, sub-header), ...]).
# A group with one column has the sub-header None (its header spans both header rows).
II06A_GROUPS: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("Tổng số hồ sơ", [("total", None)]),
    ("Kỳ trước chuyển sang", [("carried_over", None)]),
    ("Tiếp nhận trong kỳ", [("received", "Tổng"), ("received_in_person", "Trực tiếp"),
                            ("received_online", "Trực tuyến"), ("received_post", "Qua bưu chính")]),
    ("Đã giải quyết", [("resolved", "Tổng"), ("resolved_early", "Trước hạn"), ("resolved_on_time", "Đúng hạn"),
                       ("resolved_late", "Quá hạn")]),
    ("Đang giải quyết", [("pending", "Tổng"), ("pending_within", "Trong hạn"), ("pending_overdue", "Quá hạn"),
                         ("paused", "Tạm dừng chờ bổ sung")]),
    ("Rút hồ sơ", [("withdrawn", None)]),
    ("Tỷ lệ đúng hạn (%)", [("on_time_rate", None)]),
    ("Thời gian giải quyết trung bình (ngày)", [("average_days", None)]),
    ("Hồ sơ bổ sung quá 1 lần", [("repeat_supplements", None)]),
]
II06A_COLUMNS = [key for _, cols in II06A_GROUPS for key, _ in cols]
LEAD_HEADERS = ("STT", "Đơn vị", "Lĩnh vực")
TITLE = "BÁO CÁO TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH (mẫu II.06a)"


def flat_headers() -> list[str]:
    """One header per column (CSV): 'Tiếp nhận trong kỳ - Trực tiếp'."""
    out = list(LEAD_HEADERS)
    for group, cols in II06A_GROUPS:
        out.extend(group if sub is None else f"{group} - {sub}" for _, sub in cols)
    return out


def value(figures: Figures, key: str):
    """A figure for a cell: counts as int, the rate as a percentage (1 decimal), days (2 decimals)."""
    if key == "on_time_rate":
        rate = figures.on_time_rate
        return None if rate is None else round(rate * 100, 1)
    if key == "average_days":
        return figures.average_days
    return getattr(figures, key)


def rows(table: Table, agency_names: Mapping[str, str] | None = None) -> list[dict]:
    """Display rows: each commune's fields, then the commune's subtotal when it has several fields,
    then the grand total. Each row: {"kind": "row"|"subtotal"|"total", "no", "unit", "field", "figures"}."""
    agency_names = agency_names or {}
    out: list[dict] = []
    subtotals = table.subtotals(1)
    current, count = None, 0
    items = list(table.groups.items())
    for index, ((agency, field), figures) in enumerate(items):
        if agency != current:
            current, count = agency, 0
        count += 1
        out.append({"kind": "row", "no": index + 1, "agency": agency, "unit": agency_names.get(agency, agency),
                    "field": field, "figures": figures})
        last_of_unit = index + 1 == len(items) or items[index + 1][0][0] != agency
        if last_of_unit and count > 1:
            out.append({"kind": "subtotal", "no": None, "agency": agency,
                        "unit": f"Cộng {agency_names.get(agency, agency)}", "field": "",
                        "figures": subtotals[(agency,)]})
    out.append({"kind": "total", "no": None, "agency": None, "unit": "Tổng cộng", "field": "",
                "figures": table.total})
    return out


def _vn_time(text: str) -> str:
    """'2026-02-01T00:00:00' -> '00:00 01/02/2026', the order of Vietnamese forms."""
    return datetime.fromisoformat(text).strftime("%H:%M %d/%m/%Y")


def _period_line(table: Table) -> str:
    p = table.period
    return f"Kỳ báo cáo: từ ngày {p.start:%d/%m/%Y} đến ngày {p.end:%d/%m/%Y}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(cell):
    """A text cell a spreadsheet would evaluate, prefixed with ' so it shows as text; anything else as it is."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def to_csv(table: Table, agency_names: Mapping[str, str] | None = None) -> bytes:
    """UTF-8 with BOM, comma-separated, one header row; numbers unformatted (decimal point); text
    cells that a spreadsheet would read as a formula neutralised (``csv_cell``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in flat_headers()])
    for row in rows(table, agency_names):
        writer.writerow([csv_cell(c) for c in [row["no"] or "", row["unit"], row["field"]]] +
                        ["" if (v := value(row["figures"], k)) is None else v for k in II06A_COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(table: Table, agency_names: Mapping[str, str] | None = None, *, issuer: str = "",
            generated_at: str = "") -> bytes:
    """One sheet "II.06a": title, period, two header rows (merged groups), data, totals in bold."""
    import xlsxwriter  # imported here: only exports need it

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"title": TITLE, "author": issuer or "motcua", "comments": "Mẫu II.06a"})
    sheet = book.add_worksheet("II.06a")
    title = book.add_format({"bold": True, "font_size": 13})
    head = book.add_format({"bold": True, "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True,
                            "bg_color": "#F2F2F2"})
    text = book.add_format({"border": 1})
    count = book.add_format({"border": 1, "num_format": "#,##0"})
    decimal = book.add_format({"border": 1, "num_format": "0.0"})
    days = book.add_format({"border": 1, "num_format": "0.00"})
    total_text = book.add_format({"border": 1, "bold": True})
    total_count = book.add_format({"border": 1, "bold": True, "num_format": "#,##0"})
    total_decimal = book.add_format({"border": 1, "bold": True, "num_format": "0.0"})
    total_days = book.add_format({"border": 1, "bold": True, "num_format": "0.00"})

    width = len(LEAD_HEADERS) + len(II06A_COLUMNS)
    sheet.write(0, 0, TITLE, title)
    sheet.write(1, 0, _period_line(table))
    line = " · ".join(x for x in (issuer, f"Số liệu tính đến {_vn_time(table.as_of)}",
                                  f"Lập lúc {_vn_time(generated_at)}" if generated_at else "") if x)
    sheet.write(2, 0, line)
    top, sub = 4, 5
    for col, label in enumerate(LEAD_HEADERS):
        sheet.merge_range(top, col, sub, col, label, head)
    col = len(LEAD_HEADERS)
    for group, cols in II06A_GROUPS:
        if len(cols) == 1 and cols[0][1] is None:
            sheet.merge_range(top, col, sub, col, group, head)
        else:
            sheet.merge_range(top, col, top, col + len(cols) - 1, group, head)
            for offset, (_key, sub_label) in enumerate(cols):
                sheet.write(sub, col + offset, sub_label, head)
        col += len(cols)
    sheet.set_row(top, 30)
    sheet.set_row(sub, 30)
    r = sub + 1
    for row in rows(table, agency_names):
        strong = row["kind"] != "row"
        if row["no"] is not None:
            sheet.write_number(r, 0, row["no"], text)
        else:
            sheet.write_blank(r, 0, None, text)
        sheet.write_string(r, 1, row["unit"], total_text if strong else text)
        sheet.write_string(r, 2, row["field"], total_text if strong else text)
        for offset, key in enumerate(II06A_COLUMNS):
            v = value(row["figures"], key)
            fmt = {"on_time_rate": (total_decimal, decimal), "average_days": (total_days, days)}.get(
                key, (total_count, count))[0 if strong else 1]
            if v is None:
                sheet.write_blank(r, 3 + offset, None, fmt)
            else:
                sheet.write_number(r, 3 + offset, v, fmt)
        r += 1
    sheet.write(r + 1, 0, "Tỷ lệ đúng hạn = (đã giải quyết trước hạn và đúng hạn + đang giải quyết chưa đến hạn) "
                          "÷ (đã giải quyết + đang giải quyết), theo Quyết định 766/QĐ-TTg.")
    sheet.set_column(0, 0, 5)
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, 2, 22)
    sheet.set_column(3, width - 1, 11)
    sheet.freeze_panes(sub + 1, 3)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    book.close()
    return buffer.getvalue()


def filename(table: Table, ext: str, scope: str = "") -> str:
    p = table.period
    scope = f"-{scope}" if scope else ""
    return f"bao-cao-II06a{scope}-{p.start:%Y%m%d}-{p.end:%Y%m%d}.{ext}"


FORMATS = ("xlsx", "csv")
MIME = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export_file(ext: str, table: Table, agency_names: Mapping[str, str] | None, *, issuer: str,
                generated_at: str, scope: str = "") -> tuple[bytes, str, str]:
    """(body, MIME type, file name) of the II.06a export as ``ext`` (one of FORMATS), for node and central."""
    if ext == "csv":
        body = to_csv(table, agency_names)
    else:
        body = to_xlsx(table, agency_names, issuer=issuer, generated_at=generated_at)
    return body, MIME[ext], filename(table, ext, scope)
