"""A desk list exported to CSV or XLSX (issue 12.6): ID numbers and phones masked, formulas neutralised.

Lists are for following work, not for processing, so personal numbers are masked as on screen.
CSV cells that a spreadsheet would evaluate (starting with = + - @ tab or CR) get a leading apostrophe
(OWASP CSV injection); the XLSX is written with typed cells (strings stay strings).
"""
from __future__ import annotations

import csv
import io
import math
from datetime import datetime

from .citizen import mask_id_number, mask_phone
from .statuses import label
from .workflow import CHANNELS

HEADERS = ("STT", "Mã hồ sơ", "Thủ tục", "Lĩnh vực", "Người nộp", "Số định danh", "Điện thoại",
           "Hình thức nộp", "Tiếp nhận", "Hạn trả", "Trạng thái", "Người xử lý", "Số ngày quá hạn")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def days_overdue(row: dict, now: datetime) -> int:
    """Whole days (started) past the due time for a dossier whose clock runs; 0 otherwise."""
    from .statuses import is_overdue
    from .workflow import iso
    if not is_overdue(row["status"], row["due_at"], iso(now)):
        return 0
    return max(1, math.ceil((now - datetime.fromisoformat(row["due_at"])).total_seconds() / 86400))


def _time(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%H:%M %d/%m/%Y") if value else ""


def table(rows: list[dict], now: datetime) -> list[list]:
    out = []
    for i, r in enumerate(rows, 1):
        out.append([i, r["code"], r["procedure_name"], r.get("field") or "", r["applicant_name"],
                    mask_id_number(r["id_number"]), mask_phone(r["phone"]), CHANNELS.get(r["channel"], r["channel"]),
                    _time(r["received_at"]), _time(r["due_at"]), label(r["status"]), r.get("handler") or "",
                    days_overdue(r, now)])
    return out


def safe_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[dict], now: datetime) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for line in table(rows, now):
        writer.writerow([safe_cell(v) for v in line])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict], now: datetime, title: str, issuer: str = "") -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_numbers": False, "strings_to_urls": False})
    sheet = book.add_worksheet("Danh sách")
    bold = book.add_format({"bold": True})
    head = book.add_format({"bold": True, "border": 1, "bg_color": "#F2F2F2", "text_wrap": True})
    cell = book.add_format({"border": 1})
    sheet.write_string(0, 0, title, bold)
    sheet.write_string(1, 0, " · ".join(x for x in (issuer, f"Lập lúc {now:%H:%M %d/%m/%Y}",
                                                     f"{len(rows)} hồ sơ") if x))
    for col, h in enumerate(HEADERS):
        sheet.write_string(3, col, h, head)
    for r, line in enumerate(table(rows, now), start=4):
        for col, v in enumerate(line):
            if isinstance(v, int):
                sheet.write_number(r, col, v, cell)
            else:
                sheet.write_string(r, col, v, cell)
    sheet.set_column(0, 0, 5)
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, 2, 40)
    sheet.set_column(3, 12, 16)
    sheet.freeze_panes(4, 2)
    book.close()
    return buffer.getvalue()
