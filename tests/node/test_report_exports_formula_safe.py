"""The commune's II.06a CSV export neutralises text a spreadsheet would evaluate (OWASP CSV
injection), on a real node database; the XLSX export keeps the same text as typed text."""
from __future__ import annotations

import csv
import dataclasses
import io

from tests.conftest import receive

FIELD = '=HYPERLINK("http://evil.example/","Xem")'
PERIOD = {"from": "2026-01-01", "to": "2026-01-31"}


def install_field(app, clock, field: str) -> str:
    """Publish (as central would) a catalogue whose first procedure belongs to ``field``; its code."""
    from appshell.sqlite import connect, write_tx
    from node import reference
    conn = connect(app.config["DATABASE"])
    try:
        procedures = reference.procedures(conn)
        first = dataclasses.replace(procedures[0], field=field)
        with write_tx(conn):
            reference.install_catalogue(conn, reference.version(conn, "catalogue") + 1, [first, *procedures[1:]],
                                        clock.now.isoformat())
        return first.code
    finally:
        conn.close()


def test_the_nodes_csv_export_prefixes_a_field_that_looks_like_a_formula(app, clerk, ctx, clock):
    receive(ctx, procedure_code=install_field(app, clock, FIELD))
    response = clerk.get("/bao-cao/ii06a.csv", query_string=PERIOD)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    fields = [r[2] for r in rows[1:] if r[0]]
    assert fields == ["'" + FIELD]
    assert not [cell for r in rows for cell in r if cell.startswith(("=", "+", "@"))]


def test_the_nodes_xlsx_export_keeps_the_same_field_as_text(app, clerk, ctx, clock):
    import openpyxl
    receive(ctx, procedure_code=install_field(app, clock, FIELD))
    response = clerk.get("/bao-cao/ii06a.xlsx", query_string=PERIOD)
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    row = next(r for r in sheet.iter_rows() if isinstance(r[0].value, int))
    assert row[2].value == FIELD and row[2].data_type == "s"
    assert row[3].value == 1 and row[3].data_type == "n"
