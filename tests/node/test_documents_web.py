"""Documents through the node's pages and JSON API (Flask test client, real SQLite file, real blob files)."""
from __future__ import annotations

import io
import re

import pytest

from appshell import accounts
from appshell.sqlite import connect
from domain import digitisation
from node import roles, store
from tests.conftest import APPLICANT
from tests.node import document_samples as samples
from tests.node.test_web import intake_form


def _db(app):
    return connect(app.config["DATABASE"])


def _access(app, code):
    conn = _db(app)
    try:
        return [r["action"] for r in conn.execute("SELECT action FROM access_log WHERE dossier = ? ORDER BY id",
                                                  (code,))]
    finally:
        conn.close()


def _intake_with_two_scans(clerk, **overrides):
    form = intake_form(doc=["1", "2"], doc_name_2="Giấy chứng nhận kết hôn", doc_kind_2="copy", doc_count_2="1",
                       **overrides)
    form["scan_1"] = (io.BytesIO(samples.small_jpeg(1)), "to-khai.pdf")  # a JPEG with a PDF name
    form["scan_2"] = [(io.BytesIO(samples.small_jpeg(2)), "p1.jpg"), (io.BytesIO(samples.small_jpeg(3)), "p2.jpg")]
    return clerk.post("/tiep-nhan", data=form, content_type="multipart/form-data")


def test_intake_with_scans_saves_the_dossier_with_both_components_digitised(app, clerk):
    r = _intake_with_two_scans(clerk)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    code = "000.00.06.H56-260105-0001"
    state = store.get(_db(app), code)
    comps = digitisation.components(state)
    assert [c["status"] for c in comps] == ["digitised", "digitised"]
    assert [c["files"][0]["mime"] for c in comps] == ["image/jpeg", "application/pdf"]
    assert comps[1]["files"][0]["pages"] == 2
    page = clerk.get(f"/ho-so/{code}").get_data(as_text=True)
    assert page.count('class="thumb"') == 1 and "PDF · 2 trang" in page


def test_a_bad_scan_at_intake_saves_no_dossier_no_blob_and_says_why(app, clerk):
    form = intake_form(doc=["1", "2"], doc_name_2="Giấy chứng nhận kết hôn", doc_kind_2="copy", doc_count_2="1")
    form["scan_1"] = (io.BytesIO(samples.small_jpeg(1)), "good.jpg")
    form["scan_2"] = (io.BytesIO(b"MZ\x90\x00not a scan"), "scan.jpg")
    r = clerk.post("/tiep-nhan", data=form, content_type="multipart/form-data")
    assert r.status_code == 400
    assert "không dựa vào tên tệp" in r.get_data(as_text=True)
    assert _db(app).execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0
    assert _db(app).execute("SELECT count(*) FROM events").fetchone()[0] == 0
    blobs = app.config["DATA_DIR"] / "blobs"
    assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]  # not even the good scan


def test_opening_a_document_is_no_store_and_access_logged_and_thumbnails_too(app, clerk):
    _intake_with_two_scans(clerk)
    code = "000.00.06.H56-260105-0001"
    state = store.get(_db(app), code)
    first = digitisation.components(state)[0]["files"][0]
    r = clerk.get(f"/ho-so/{code}/tai-lieu/{first['id']}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.headers["Cache-Control"] == "no-store"
    assert r.data.startswith(b"\xff\xd8")
    t = clerk.get(f"/ho-so/{code}/tai-lieu/{first['id']}/anh-nho")
    assert t.status_code == 200 and t.headers["Cache-Control"] == "no-store"
    log = _access(app, code)
    assert f"document_view:{first['id']}" in log and f"document_thumb:{first['id']}" in log


def test_attach_on_the_dossier_page_and_remove_with_a_reason(app, clerk, ctx):
    from tests.conftest import receive
    code = receive(ctx)["code"]
    r = clerk.post(f"/ho-so/{code}/tai-lieu", data={"component": "0", "file": (io.BytesIO(samples.simple_pdf(2)),
                                                                                 "x.jpg")},
                   content_type="multipart/form-data")
    assert r.status_code == 303
    a = store.get(_db(app), code)["attachments"][0]
    assert a["mime"] == "application/pdf" and a["pages"] == 2
    r = clerk.post(f"/ho-so/{code}/tai-lieu/{a['id']}/go", data={"reason": ""})
    assert len(digitisation.active(store.get(_db(app), code))) == 1  # no reason: still attached
    clerk.post(f"/ho-so/{code}/tai-lieu/{a['id']}/go", data={"reason": "Bản quét mờ"})
    assert digitisation.active(store.get(_db(app), code)) == []


def test_the_phone_capture_link_is_one_time_bound_to_the_dossier_and_clerk_and_expires(app, clerk, ctx, clock):
    from tests.conftest import receive
    code = receive(ctx)["code"]
    page = clerk.post(f"/ho-so/{code}/chup-anh", data={"component": "0"}).get_data(as_text=True)
    assert "<svg" in page
    link = re.search(r'id="capture-link">([^<]+)<', page).group(1)
    path = "/" + link.split("/", 3)[3]
    phone = app.test_client()
    opened = phone.get(path)
    assert opened.status_code == 200 and 'capture="environment"' in opened.get_data(as_text=True)
    up = phone.post(path, data={"file": (io.BytesIO(samples.phone_photo(width=2000, height=1500)), "IMG_1.jpg")},
                    content_type="multipart/form-data")
    assert up.status_code == 200 and "Đã gửi 1 trang" in up.get_data(as_text=True)
    a = store.get(_db(app), code)["attachments"][0]
    assert a["source"] == "phone" and a["by"] == "lan" and a["component"] == 0
    other = app.test_client()  # a second phone with the same link gets nothing
    assert other.get(path).status_code == 410
    assert other.post(path, data={"file": (io.BytesIO(samples.small_jpeg()), "a.jpg")},
                      content_type="multipart/form-data").status_code == 410
    clock.advance(minutes=app.config["MOTCUA"]["capture_link_minutes"] + 1)
    late = phone.post(path, data={"file": (io.BytesIO(samples.small_jpeg()), "b.jpg")},
                      content_type="multipart/form-data")
    assert late.status_code == 410 and len(store.get(_db(app), code)["attachments"]) == 1


def test_reuse_at_the_next_intake_references_the_old_blob_and_copies_nothing(app, clerk):
    _intake_with_two_scans(clerk)
    old = store.get(_db(app), "000.00.06.H56-260105-0001")
    blob_files = sorted(p.name for p in (app.config["DATA_DIR"] / "blobs").rglob("*") if p.is_file())
    blob_rows = _db(app).execute("SELECT count(*) FROM blobs").fetchone()[0]
    found = clerk.get(f"/tiep-nhan/giay-to-da-so-hoa?cccd={APPLICANT['id_number']}").get_json()["papers"]
    assert {p["name"] for p in found} == {"Tờ khai đăng ký kết hôn", "Giấy chứng nhận kết hôn"}
    paper = next(p for p in found if p["name"] == "Giấy chứng nhận kết hôn")
    form = intake_form(doc=["1", "2"], doc_name_2="Giấy chứng nhận kết hôn", doc_kind_2="copy", doc_count_2="1",
                       reuse=[f"{paper['dossier']}/{paper['attachment']}"],
                       **{f"reuse_for_{paper['dossier']}/{paper['attachment']}": "2"})
    assert clerk.post("/tiep-nhan", data=form).status_code == 302
    new = store.get(_db(app), "000.00.06.H56-260105-0002")
    reused = new["attachments"][0]
    old_paper = next(a for a in old["attachments"] if a["id"] == paper["attachment"])
    assert reused["hash"] == old_paper["hash"] and reused["source"] == "reuse" and reused["component"] == 1
    assert reused["reused_from"] == f"{old['code']}/{old_paper['id']}"
    assert [c["status"] for c in digitisation.components(new)] == ["not_digitised", "digitised"]
    assert sorted(p.name for p in (app.config["DATA_DIR"] / "blobs").rglob("*") if p.is_file()) == blob_files
    assert _db(app).execute("SELECT count(*) FROM blobs").fetchone()[0] == blob_rows
    assert "reuse_lookup" in _access(app, old["code"])


def test_another_citizens_paper_cannot_be_reused(app, clerk, ctx):
    _intake_with_two_scans(clerk)
    old = store.get(_db(app), "000.00.06.H56-260105-0001")
    from node import documents
    from tests.conftest import receive
    other = receive(ctx, applicant=dict(APPLICANT, id_number="001203009999"))
    with pytest.raises(documents.DocumentRefused):
        documents.reuse(ctx(), other["code"], "0", old["code"], old["attachments"][0]["id"])
    assert store.get(_db(app), other["code"]).get("attachments") in (None, [])


def test_the_results_register_records_the_result_and_its_scan_and_searches_by_citizen_id(app, clerk, ctx):
    from tests.conftest import receive
    code = receive(ctx)["code"]
    for action in ("start", "resolve"):
        store.act(ctx(), code, action, {})
    r = clerk.post(f"/ho-so/{code}/so-ket-qua", data={
        "number": "125", "symbol": "QĐ-UBND", "date": "2026-01-05", "signer": "Trần Văn Hùng",
        "valid_until": "2031-01-05", "scope": "Toàn quốc",
        "file": (io.BytesIO(samples.small_jpeg(9)), "ket-qua.jpg")}, content_type="multipart/form-data")
    assert r.status_code == 303
    state = store.get(_db(app), code)
    assert state["result_record"]["number"] == "125" and digitisation.result_digitised(state)
    page = clerk.get(f"/so-ket-qua?nam=2026&cccd={APPLICANT['id_number']}").get_data(as_text=True)
    table = page[page.index("<tbody>"):]
    assert "125/QĐ-UBND" in table and code in table and APPLICANT["id_number"] not in table  # masked
    assert "125/QĐ-UBND" not in clerk.get("/so-ket-qua?nam=2026&cccd=001203009999").get_data(as_text=True)
    from domain import reports
    today = app.config["CLOCK"]().date()
    rates = reports.digitisation_rates_sql(_db(app), today, today)[("", "")]
    assert (rates.resolved, rates.results_digitised, rates.result_rate) == (1, 1, 1.0)
    bad = clerk.post(f"/ho-so/{code}/so-ket-qua", data={"number": "", "date": "x", "signer": "",
                                                       "file": (io.BytesIO(samples.small_jpeg(8)), "b.jpg")},
                     content_type="multipart/form-data")
    after = store.get(_db(app), code)
    assert bad.status_code == 303 and after["result_record"]["number"] == "125"
    assert len(digitisation.result_files(after)) == 1  # the refused register entry attached no scan


# --- API ----------------------------------------------------------------------------------------------

@pytest.fixture
def token(app, clock):
    conn = _db(app)
    try:
        return accounts.create_token(conn, accounts.by_name(conn, "lan"), "scanner", clock.now,
                                     prefix=roles.TOKEN_PREFIX)
    finally:
        conn.close()


def test_the_api_attaches_lists_and_returns_files_with_one_error_shape(app, client, token, ctx):
    from tests.conftest import receive
    code = receive(ctx)["code"]
    h = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/api/v1/dossiers/{code}/attachments", headers=h, content_type="multipart/form-data",
                    data={"component": "0", "file": (io.BytesIO(samples.phone_photo(width=3000, height=2250)),
                                                     "a.jpg")})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["hash"]) and body["type"] == "image/jpeg" and body["pages"] == 1
    assert body["size"] < body["original_size"]
    listed = client.get(f"/api/v1/dossiers/{code}/attachments", headers=h).get_json()
    assert [a["hash"] for a in listed["attachments"]] == [body["hash"]]
    assert listed["components"][0]["status"] == "digitised"
    f = client.get(f"/api/v1/dossiers/{code}/attachments/{body['id']}", headers=h)
    assert f.status_code == 200 and f.headers["Cache-Control"] == "no-store" and f.data.startswith(b"\xff\xd8")
    assert f"document_view:{body['id']}" in _access(app, code)
    for response, status, err in (
        (client.post(f"/api/v1/dossiers/{code}/attachments", headers=h, content_type="multipart/form-data",
                     data={"component": "0", "file": (io.BytesIO(samples.encrypted_pdf()), "x.pdf")}),
         422, "pdf_encrypted"),
        (client.post(f"/api/v1/dossiers/{code}/attachments", headers=h, content_type="multipart/form-data",
                     data={"component": "99", "file": (io.BytesIO(samples.small_jpeg()), "x.jpg")}),
         422, "component"),
        (client.post("/api/v1/dossiers/NOPE/attachments", headers=h, content_type="multipart/form-data",
                     data={"component": "0", "file": (io.BytesIO(samples.small_jpeg()), "x.jpg")}), 404, "not_found"),
        (client.get(f"/api/v1/dossiers/{code}/attachments/nope", headers=h), 404, "not_found"),
        (client.get(f"/api/v1/dossiers/{code}/attachments"), 401, "unauthorized"),
    ):
        assert response.status_code == status
        assert set(response.get_json()) == {"error"} and response.get_json()["error"]["code"] == err
    assert len(store.get(_db(app), code)["attachments"]) == 1


def test_uploads_above_the_old_two_megabyte_body_cap_are_accepted_up_to_the_per_file_setting(app, client, token,
                                                                                             ctx):
    from tests.conftest import receive
    code = receive(ctx)["code"]
    photo = samples.phone_photo()
    assert len(photo) > 2 * 2**20
    r = client.post(f"/api/v1/dossiers/{code}/attachments", headers={"Authorization": f"Bearer {token}"},
                    content_type="multipart/form-data", data={"component": "0", "file": (io.BytesIO(photo), "a.jpg")})
    assert r.status_code == 201


def test_the_report_page_shows_the_digitisation_rates_per_field_and_in_total(app, clerk, ctx):
    from domain import reports
    from tests.conftest import receive
    _intake_with_two_scans(clerk)  # both components digitised
    plain = receive(ctx)  # nothing scanned
    exempted = receive(ctx)
    from node import documents
    documents.mark(ctx(), exempted["code"], "0", "confidential")  # exempt counts as digitised
    page = clerk.get("/bao-cao").get_data(as_text=True)
    total = page[page.index('id="digitisation-total"'):]
    assert "2/3" in total and "66,7%" in total
    assert plain["code"] != exempted["code"]
    rates = reports.digitisation_rates_sql(_db(app), app.config["CLOCK"]().date(),
                                           app.config["CLOCK"]().date())
    assert rates[("", "")].received == 3 and rates[("", "")].received_digitised == 2
    assert rates[("", "")].resolved == 0 and rates[("", "")].result_rate is None


def test_form_01_says_which_components_were_digitised(app, clerk):
    form = intake_form(doc=["1", "2"], doc_name_2="Giấy chứng nhận kết hôn", doc_kind_2="copy", doc_count_2="1")
    form["scan_2"] = (io.BytesIO(samples.small_jpeg(2)), "p1.jpg")
    assert clerk.post("/tiep-nhan", data=form, content_type="multipart/form-data").status_code == 302
    page = clerk.get("/bieu-mau/000.00.06.H56-260105-0001/01").get_data(as_text=True)
    table = page[page.index('id="form01-digitisation"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)</td>"
                      r".*?data-status=\"(\w+)\">([^<]*)</td></tr>", table)
    assert ("1", "Tờ khai đăng ký kết hôn", "not_digitised", "Chưa số hóa") in rows
    assert ("2", "Giấy chứng nhận kết hôn", "digitised", "Đã số hóa") in rows


def test_the_digitisation_rates_export_as_csv_with_the_same_figures(app, clerk, ctx):
    import csv

    from tests.conftest import receive
    _intake_with_two_scans(clerk)
    receive(ctx)
    r = clerk.get("/bao-cao/so-hoa.csv?from=2026-01-01&to=2026-01-31")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    total = next(row for row in rows if row[1] == "Tổng cộng")
    assert total[3:6] == ["2", "1", "50.0"]
    assert any(row[0] == "000.00.06.H56" and row[2] == "Hộ tịch" for row in rows)


def test_the_api_offers_removal_exemption_results_register_and_reuse_too(app, client, token, ctx):
    from tests.conftest import receive
    h = {"Authorization": f"Bearer {token}"}
    old = receive(ctx)["code"]
    up = client.post(f"/api/v1/dossiers/{old}/attachments", headers=h, content_type="multipart/form-data",
                     data={"component": "0", "file": (io.BytesIO(samples.small_jpeg(4)), "a.jpg")}).get_json()
    for action in ("start", "resolve"):
        store.act(ctx(), old, action, {})
    r = client.post(f"/api/v1/dossiers/{old}/result", headers=h,
                    json={"number": "7", "date": "05/01/2026", "signer": "Trần Văn Hùng"})
    assert r.status_code == 200 and r.get_json()["result_record"]["date"] == "2026-01-05"
    assert client.post(f"/api/v1/dossiers/{old}/result", headers=h, json={"number": "7"}).get_json()["error"]["code"] \
        == "date"
    papers = client.get(f"/api/v1/citizens/{APPLICANT['id_number']}/papers", headers=h).get_json()["papers"]
    assert [p["attachment"] for p in papers] == [up["id"]]
    new = receive(ctx)["code"]
    reused = client.post(f"/api/v1/dossiers/{new}/attachments/reuse", headers=h,
                         json={"dossier": old, "attachment": up["id"], "component": 0})
    assert reused.status_code == 201 and reused.get_json()["hash"] == up["hash"]
    gone = client.post(f"/api/v1/dossiers/{new}/attachments/{reused.get_json()['id']}/remove", headers=h,
                       json={"reason": "Nhầm giấy tờ"})
    assert gone.get_json()["components"][0]["status"] == "not_digitised"
    exempt = client.post(f"/api/v1/dossiers/{new}/components/0/exemption", headers=h,
                         json={"exemption": "comparison"})
    assert exempt.get_json()["components"][0] == {"index": 0, "name": "Tờ khai", "status": "exempt",
                                                  "exemption": "comparison"}
    bad = client.post(f"/api/v1/dossiers/{new}/components/0/exemption", headers=h, json={"exemption": "lazy"})
    assert bad.status_code == 422 and set(bad.get_json()) == {"error"}
