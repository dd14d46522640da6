"""Catalogue and calendar publishing from central's pages: drafts, validation, "Xuất bản" to every node."""
from __future__ import annotations

import json
import re

from domain.catalogue import parse_procedure
from protocol import sync as wire
from tests.central.conftest import AGENCY, OTHER_AGENCY, add_node, enrolled, open_reply, text

PROCEDURE = "1.001193"


def procedure_form(draft_procedure: dict, **changes) -> dict:
    """The editor's fields for a procedure (as the page fills them), with some changed."""
    form = {"code": draft_procedure["code"], "name": draft_procedure["name"], "field": draft_procedure["field"],
            "limit_value": str(draft_procedure["limit"]["value"]), "limit_unit": draft_procedure["limit"]["unit"],
            "same_day_cutoff": draft_procedure["same_day_cutoff"] or "", "fee": str(draft_procedure["fee"]),
            "fee_note": draft_procedure["fee_note"], "result": draft_procedure["result"]}
    if draft_procedure["handed_up"]:
        form["handed_up"] = "1"
    for i, doc in enumerate(draft_procedure["documents"]):
        form.update({f"doc_name_{i}": doc["name"], f"doc_kind_{i}": doc["kind"], f"doc_count_{i}": str(doc["count"])})
    form.update(changes)
    return form


def published(db, kind="catalogue") -> tuple[int, dict]:
    row = db.execute("SELECT version, body FROM reference WHERE kind = ? ORDER BY version DESC LIMIT 1",
                     (kind,)).fetchone()
    return row["version"], json.loads(row["body"])


def sample(db, code=PROCEDURE) -> dict:
    return next(p for p in published(db)[1]["procedures"] if p["code"] == code)


def feed_types(db, node):
    return [(r["type"], json.loads(r["body"])["data"].get("version")) for r in db.execute(
        "SELECT type, body FROM feed WHERE node = ? ORDER BY seq", (node,))]


def test_the_editor_shows_a_procedure_and_saving_keeps_a_draft_until_published(web_app, db, clock, admin):
    enrolled(web_app, db, clock)
    page = text(admin.get(f"/xuat-ban/thu-tuc/{PROCEDURE}"))
    assert f'value="{PROCEDURE}"' in page and "Lưu vào bản nháp" in page
    before = feed_types(db, AGENCY)
    response = admin.post(f"/xuat-ban/thu-tuc/{PROCEDURE}", data=procedure_form(
        sample(db), limit_unit="working_days", limit_value="3", same_day_cutoff=""))
    assert response.status_code == 303
    draft = json.loads(db.execute("SELECT body FROM drafts WHERE kind = 'catalogue'").fetchone()[0])
    edited = next(p for p in draft["procedures"] if p["code"] == PROCEDURE)
    assert edited["limit"] == {"value": 3, "unit": "working_days"} and edited["same_day_cutoff"] is None
    assert parse_procedure(edited).limit_label() == "3 ngày làm việc"
    assert feed_types(db, AGENCY) == before and published(db)[0] == 1  # nothing reaches a node yet
    index = text(admin.get("/xuat-ban"))
    assert "Thêm 0 · sửa 1 · bỏ 0" in index and "đã sửa" in index


def test_publishing_creates_the_next_version_in_every_active_node_s_feed(web_app, db, clock, admin):
    first = enrolled(web_app, db, clock)
    second = enrolled(web_app, db, clock, OTHER_AGENCY, "UBND xã Bình An")
    add_node(db, clock, "000.00.09.H56", "UBND xã Chưa Kết Nối")  # pending: gets it when it enrols
    admin.post(f"/xuat-ban/thu-tuc/{PROCEDURE}", data=procedure_form(
        sample(db), limit_unit="working_days", limit_value="2", same_day_cutoff="", fee="10000"))
    response = admin.post("/xuat-ban/catalogue/xuat-ban", follow_redirects=True)
    assert "phiên bản 2" in text(response) and "của 2 đơn vị" in text(response)
    version, body = published(db)
    assert version == 2 and next(p for p in body["procedures"] if p["code"] == PROCEDURE)["fee"] == 10000
    for node in (first.agency, second.agency):
        assert feed_types(db, node)[-1] == ("catalogue.published", 2)
    assert feed_types(db, "000.00.09.H56") == []
    assert db.execute("SELECT COUNT(*) FROM drafts").fetchone()[0] == 0
    # the node pulls it through its signed feed: the new limit for new dossiers
    reply = open_reply(web_app, first.post(web_app.test_client(), wire.FEED, first.payload(after=0)))
    entry = reply["entries"][0]
    procedure = parse_procedure(next(p for p in entry["data"]["procedures"] if p["code"] == PROCEDURE))
    assert (entry["type"], entry["data"]["version"], procedure.limit_value, procedure.limit_unit) == \
        ("catalogue.published", 2, 2, "working_days")
    assert "phiên bản đã xuất bản: 2" in re.sub(r"<[^>]+>", "", text(admin.get("/xuat-ban"))).lower()


def test_a_new_procedure_is_added_and_one_can_be_removed(web_app, db, clock, admin):
    enrolled(web_app, db, clock)
    new = {"code": "XA-TEST-01", "name": "Xác nhận thử nghiệm", "field": "Hộ tịch", "limit_value": "5",
           "limit_unit": "working_days", "fee": "", "fee_note": "", "result": "Giấy xác nhận",
           "handed_up": "1", "doc_name_0": "Đơn đề nghị", "doc_kind_0": "original", "doc_count_0": "1",
           "doc_name_1": "", "doc_kind_1": "copy", "doc_count_1": "1"}
    assert admin.post("/xuat-ban/thu-tuc/moi", data=new).status_code == 303
    duplicate = admin.post("/xuat-ban/thu-tuc/moi", data=new)
    assert duplicate.status_code == 400 and "đã có trong danh mục" in text(duplicate)
    admin.post(f"/xuat-ban/thu-tuc/{PROCEDURE}/xoa")
    admin.post("/xuat-ban/catalogue/xuat-ban")
    codes = {p["code"]: p for p in published(db)[1]["procedures"]}
    assert PROCEDURE not in codes and codes["XA-TEST-01"]["handed_up"] is True
    assert codes["XA-TEST-01"]["documents"] == [{"name": "Đơn đề nghị", "kind": "original", "count": 1}]


def test_an_invalid_procedure_is_refused_in_vietnamese_and_nothing_is_saved(web_app, db, clock, admin):
    enrolled(web_app, db, clock)
    base = procedure_form(sample(db), limit_unit="working_days", limit_value="5", same_day_cutoff="")
    for changes, message in [({"limit_value": "0"}, "Thời hạn phải từ 1 trở lên"),
                             ({"limit_value": "năm"}, "Thời hạn phải là số nguyên"),
                             ({"name": ""}, "Tên thủ tục không được để trống"),
                             ({"fee": "-5"}, "Lệ phí không được âm"),
                             ({"limit_unit": "calendar_days", "same_day_cutoff": "15:00"}, None),
                             ({"doc_count_0": "0"}, "Giấy tờ số 1 phải từ 1 trở lên")]:
        response = admin.post(f"/xuat-ban/thu-tuc/{PROCEDURE}", data={**base, **changes})
        if message is None:  # a cut-off with a non same-day unit is dropped by the editor, not refused
            assert response.status_code == 303
            continue
        assert response.status_code == 400 and message in text(response), changes
    draft = json.loads(db.execute("SELECT body FROM drafts").fetchone()[0])
    assert next(p for p in draft["procedures"] if p["code"] == PROCEDURE)["limit"]["unit"] == "calendar_days"


def test_calendar_entries_are_validated_then_published_to_every_node(web_app, db, clock, admin):
    enrolled(web_app, db, clock)
    saturday = admin.post("/xuat-ban/lich", data={"date": "2026-09-05", "kind": "substitute", "name": "Nghỉ bù"})
    assert saturday.status_code == 400 and "thứ Hai đến thứ Sáu" in text(saturday)
    weekday = admin.post("/xuat-ban/lich", data={"date": "2026-09-03", "kind": "workday", "name": "Làm bù"})
    assert weekday.status_code == 400 and "thứ Bảy hoặc Chủ nhật" in text(weekday)
    bad = admin.post("/xuat-ban/lich", data={"date": "31/02/2026", "kind": "holiday", "name": "x"})
    assert bad.status_code == 400 and "ngày/tháng/năm (dd/mm/yyyy)" in text(bad)
    assert admin.post("/xuat-ban/lich", data={"date": "03/09/2026", "kind": "substitute",
                                              "name": "Nghỉ bù Quốc khánh"}).status_code == 303
    again = admin.post("/xuat-ban/lich", data={"date": "2026-09-03", "kind": "holiday", "name": "x"})
    assert again.status_code == 400 and "đã có trong lịch" in text(again)
    page = text(admin.get("/xuat-ban/lich"))
    assert 'data-date="2026-09-03"' in page and "mới" in page
    response = admin.post("/xuat-ban/calendar/xuat-ban", data={"back": "lich"}, follow_redirects=True)
    assert "lịch ngày nghỉ phiên bản 2" in text(response)
    version, body = published(db, "calendar")
    assert version == 2 and {"date": "2026-09-03", "kind": "substitute", "name": "Nghỉ bù Quốc khánh"} in body["entries"]
    assert feed_types(db, AGENCY)[-1] == ("calendar.published", 2)
    # removing a day is an edit like any other
    admin.post("/xuat-ban/lich/2026-09-03/xoa")
    admin.post("/xuat-ban/calendar/xuat-ban")
    assert published(db, "calendar")[0] == 3 and not any(e["date"] == "2026-09-03"
                                                         for e in published(db, "calendar")[1]["entries"])


def test_publishing_without_a_change_is_refused_and_a_draft_can_be_discarded(web_app, db, clock, admin):
    enrolled(web_app, db, clock)
    response = admin.post("/xuat-ban/catalogue/xuat-ban", follow_redirects=True)
    assert "không có thay đổi" in text(response) and published(db)[0] == 1
    admin.post(f"/xuat-ban/thu-tuc/{PROCEDURE}", data=procedure_form(sample(db), name="Tên mới"))
    admin.post("/xuat-ban/catalogue/huy")
    assert db.execute("SELECT COUNT(*) FROM drafts").fetchone()[0] == 0
    assert "không có thay đổi" in text(admin.post("/xuat-ban/catalogue/xuat-ban", follow_redirects=True))


def test_a_draft_started_before_someone_else_published_is_flagged(web_app, db, clock, admin):
    from central.store import publishing
    enrolled(web_app, db, clock)
    admin.post(f"/xuat-ban/thu-tuc/{PROCEDURE}", data=procedure_form(sample(db), name="Đăng ký khai sinh (mới)"))
    publishing.publish_body(db, "catalogue", published(db)[1], actor="thu", now=clock.now)  # e.g. from the CLI
    assert "đã được xuất bản sau đó" in text(admin.get("/xuat-ban"))


def test_a_viewer_sees_the_catalogue_but_cannot_edit_or_publish(web_app, db, clock, viewer):
    enrolled(web_app, db, clock)
    page = text(viewer.get("/xuat-ban"))
    assert PROCEDURE in page and "Thêm thủ tục" not in page and "publish-catalogue" not in page
    assert viewer.get(f"/xuat-ban/thu-tuc/{PROCEDURE}").status_code == 403
    assert viewer.post("/xuat-ban/catalogue/xuat-ban").status_code == 403
    assert viewer.post("/xuat-ban/calendar/huy").status_code == 403


def test_publishing_a_file_as_the_cli_would(web_app, db, clock, tmp_path):
    from central.store import publishing
    enrolled(web_app, db, clock)
    path = tmp_path / "lich-2027.json"
    path.write_text(json.dumps({"version": 99, "entries": [{"date": "2027-01-01", "kind": "holiday",
                                                             "name": "Tết Dương lịch"}]}), encoding="utf-8")
    version, reached = publishing.publish_body(db, "calendar", publishing.load_file("calendar", path),
                                               actor="cli", now=clock.now)
    assert (version, reached) == (2, 1)  # always latest + 1, whatever the file says
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"code": "X"}]), encoding="utf-8")
    import pytest
    with pytest.raises(publishing.DraftError):
        publishing.publish_body(db, "catalogue", publishing.load_file("catalogue", bad), actor="cli", now=clock.now)
    assert published(db)[0] == 1
