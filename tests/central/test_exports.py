"""Central's II.06a CSV export neutralises text a spreadsheet would evaluate (OWASP CSV
injection): a commune's name an admin typed and a field a node sent; XLSX stays typed."""
from __future__ import annotations

import csv
import dataclasses
import io

from domain.catalogue import load_sample_catalogue
from tests.central.conftest import CENTRAL_ADMIN_PASSWORD, FakeNode, add_node

NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
FIELD = '=HYPERLINK("http://evil.example/","Xem")'
PERIOD = {"from": "2026-01-01", "to": "2026-01-31"}


def staff_with_one_dossier(central_app, conn, clock):
    node = FakeNode(clock)
    client = central_app.test_client()
    assert node.enrol(client, add_node(conn, clock, name=NAME)).status_code == 200
    procedure = next(p for p in load_sample_catalogue()[1] if p.limit_unit != "same_day")
    node.receive(dataclasses.replace(procedure, field=FIELD))
    assert node.push(client).status_code == 200
    central_app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/dang-nhap", data={"username": "admin", "password": CENTRAL_ADMIN_PASSWORD}).status_code == 302
    return client


def test_centrals_csv_export_prefixes_a_commune_name_and_a_field_that_look_like_formulas(central_app, conn, clock):
    staff = staff_with_one_dossier(central_app, conn, clock)
    response = staff.get("/bao-cao/ii06a.csv", query_string=PERIOD)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    data = next(r for r in rows[1:] if r[0] == "1")
    assert data[1:3] == ["'" + NAME, "'" + FIELD]
    assert not [cell for r in rows for cell in r if cell.startswith(("=", "+", "@"))]


def test_centrals_xlsx_export_keeps_them_as_text_and_the_figures_as_numbers(central_app, conn, clock):
    import openpyxl
    staff = staff_with_one_dossier(central_app, conn, clock)
    sheet = openpyxl.load_workbook(io.BytesIO(staff.get("/bao-cao/ii06a.xlsx", query_string=PERIOD).data)).active
    row = next(r for r in sheet.iter_rows() if isinstance(r[0].value, int))
    assert (row[1].value, row[2].value) == (NAME, FIELD) and {row[1].data_type, row[2].data_type} == {"s"}
    assert row[3].value == 1 and row[3].data_type == "n"
