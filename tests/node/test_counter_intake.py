"""Issue 12.1/12.5/12.7 at the desk through Flask's test client: card reads, all errors at once, representative."""
from __future__ import annotations

import json

from appshell.sqlite import connect
from tests.node.test_web import intake_form

CARD = "001090004567|123456789|Nguyễn Văn Dũng|15041990|Nam|Thôn Đông, Hòa Bình, Quảng Ninh|10082021"


def query(app, sql, *args):
    conn = connect(app.config["DATABASE"])
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def test_a_card_read_returns_the_applicants_fields_and_writes_one_access_log_row(app, clerk, caplog):
    r = clerk.post("/tiep-nhan/doc-the", json={"payload": CARD})
    assert r.status_code == 200
    assert r.get_json()["fields"] == {"name": "Nguyễn Văn Dũng", "id_number": "001090004567",
                                      "birth_date": "15/04/1990", "sex": "Nam",
                                      "address": "Thôn Đông, Hòa Bình, Quảng Ninh"}
    assert query(app, "SELECT username, dossier, action FROM access_log") == [("lan", "*card*", "card_read:cccd")]
    assert "001090004567" not in caplog.text


def test_text_that_is_not_a_card_is_refused_in_the_json_error_shape_and_logs_nothing(app, clerk):
    r = clerk.post("/tiep-nhan/doc-the", json={"payload": "0912345678|hello"})
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "not_a_card"
    assert query(app, "SELECT count(*) FROM access_log") == [(0,)]


def test_an_intake_without_a_procedure_reports_every_other_missing_field_too(app, clerk):
    r = clerk.post("/tiep-nhan", data=intake_form(procedure="", name="", id_number="", phone="", address=""))
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    for field in ("procedure", "name", "id_number", "phone", "address"):
        assert f'data-error-for="{field}"' in body, field
    assert 'aria-describedby="err-name"' in body
    assert query(app, "SELECT count(*) FROM dossiers") == [(0,)]


def test_a_representative_is_recorded_at_intake_and_a_half_typed_one_is_refused(app, clerk):
    r = clerk.post("/tiep-nhan", data=intake_form(rep_name="Trần Văn Bình", rep_id_number="001 090 001 234",
                                                  rep_phone="0987 654 321", rep_relationship="Con trai"))
    assert r.status_code == 302
    [(doc,)] = query(app, "SELECT doc FROM dossiers")
    assert json.loads(doc)["representative"] == {"name": "Trần Văn Bình", "id_number": "001090001234",
                                                 "phone": "0987654321", "relationship": "Con trai"}
    r = clerk.post("/tiep-nhan", data=intake_form(rep_name="Trần Văn Bình"))
    assert r.status_code == 400 and 'data-error-for="representative"' in r.get_data(as_text=True)
    assert query(app, "SELECT count(*) FROM dossiers") == [(1,)]


def test_save_and_print_goes_straight_to_form_01_with_the_print_flag(app, clerk):
    r = clerk.post("/tiep-nhan", data=intake_form(after="print"))
    assert r.status_code == 302 and r.headers["Location"].endswith("/01?in=1")
    page = clerk.get(r.headers["Location"]).get_data(as_text=True)
    assert "data-autoprint" in page
