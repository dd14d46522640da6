"""Form 06's rows as a pure function (domain/control_sheet.py, issue 9.3 and 12.7/12.8)."""
from __future__ import annotations

from domain.control_sheet import DESK, Names, control_rows

NAMES = Names(agency_code="000.00.06.H56", agency_name="UBND xã Hòa Bình", parent_name="UBND tỉnh Quảng Ninh",
              staff={"lan": "Nguyễn Thị Lan", "hung": "Trần Văn Hùng"})
STATE = {"agency": "000.00.06.H56", "applicant": {"name": "Nguyễn Văn Dũng"}, "return_method": "desk",
         "handler": "hung", "handoffs": []}


def event(type_, at, actor="lan", note="", **changes):
    return {"type": type_, "at": at, "actor": actor, "data": {"note": note, "set": changes}}


def test_staff_are_named_in_full_and_unknown_logins_print_blank_never_the_login():
    rows = control_rows(STATE, [event("dossier.processing", "2026-01-05T09:30:00", handler="hung"),
                                event("dossier.resolved", "2026-01-06T10:00:00", actor="ghost", result_class="early")],
                        NAMES)
    assert rows[0]["from"] == DESK and rows[0]["to"] == "Trần Văn Hùng" and rows[0]["giver"] == "Nguyễn Thị Lan"
    assert rows[1]["giver"] == "Trần Văn Hùng" and rows[1]["receiver"] == ""
    assert all("hung" not in str(v) and "ghost" not in str(v) for r in rows for v in r.values())


def test_a_hand_up_writes_its_row_with_the_real_agency_never_cap_tren():
    up = {"sent_at": "2026-01-05T10:00:00", "from_unit": "000.00.06.H56", "to_unit": "Cấp trên", "giver": "lan",
          "receiver": "", "note": "Thuộc thẩm quyền cấp tỉnh", "returned_at": "2026-01-07T09:00:00",
          "result_class": "on_time", "upper": True, "return_note": "Đã giải quyết"}
    state = dict(STATE, handoffs=[up])
    rows = control_rows(state, [event("dossier.processing", "2026-01-05T09:30:00", handler="hung"),
                                event("dossier.handed_up", "2026-01-05T10:00:00", handoffs=[up]),
                                event("dossier.handed_back", "2026-01-07T09:00:00", actor="lan")], NAMES)
    assert [r["to"] for r in rows] == ["Trần Văn Hùng", "UBND tỉnh Quảng Ninh", "UBND xã Hòa Bình"]
    assert rows[1]["from"] == "UBND xã Hòa Bình" and rows[1]["note"] == "Thuộc thẩm quyền cấp tỉnh"
    assert rows[1]["giver"] == "Nguyễn Thị Lan"
    assert rows[2]["result"] == "on_time" and "Cấp trên" not in str(rows)


def test_the_return_row_names_who_collected_the_result():
    rows = control_rows(STATE, [event("dossier.returned", "2026-01-08T08:15:00", return_method="desk",
                                      collected_by={"name": "Trần Văn Bình", "id_number": "001090001234",
                                                    "phone": "", "relationship": "Con trai"})], NAMES)
    assert rows[0]["to"] == "Trần Văn Bình" and rows[0]["note"] == "Trả kết quả tại bộ phận một cửa"
