import copy
import json
import re
from collections import Counter

import pytest

from domain.catalogue import (
    DOCUMENT_KINDS,
    LIMIT_UNITS,
    CatalogueError,
    Document,
    Procedure,
    fields,
    filter_procedures,
    load_sample_catalogue,
    parse_catalogue,
    parse_procedure,
)

NATIONAL_CODE = re.compile(r"^\d\.\d{6}$")
LOCAL_CODE = re.compile(r"^XA-[A-Z]+-\d{2}$")


@pytest.fixture(scope="module")
def sample():
    return load_sample_catalogue()


def good_raw(**changes):
    raw = {
        "code": "2.000815",
        "name": "Chứng thực bản sao từ bản chính",
        "field": "Chứng thực",
        "limit": {"value": 0, "unit": "same_day"},
        "same_day_cutoff": "15:00",
        "fee": 2000,
        "fee_note": "2.000 đồng/trang, từ trang thứ 3 1.000 đồng/trang",
        "documents": [{"name": "Bản chính giấy tờ", "kind": "original", "count": 1}],
        "handed_up": False,
        "result": "Bản sao có chứng thực",
    }
    raw.update(changes)
    return raw


def make(unit, value, cutoff=None):
    return parse_procedure(good_raw(limit={"value": value, "unit": unit}, same_day_cutoff=cutoff))


# ------------------------------------------------------------ the sample --

def test_the_sample_loads_with_a_positive_version_and_at_least_28_procedures_in_at_least_6_fields(sample):
    version, procedures = sample
    assert isinstance(version, int) and version >= 1
    assert len(procedures) >= 28
    assert len(fields(procedures)) >= 6
    assert all(isinstance(p, Procedure) for p in procedures)


def test_the_sample_covers_the_typical_commune_fields(sample):
    _, procedures = sample
    per_field = Counter(p.field for p in procedures)
    for name in ("Hộ tịch", "Chứng thực", "Bảo trợ xã hội", "Đất đai", "Người có công"):
        assert per_field[name] >= 1, name
    assert per_field["Hộ tịch"] >= 10
    assert per_field["Chứng thực"] >= 5


def test_sample_codes_are_unique_and_either_national_or_clearly_local(sample):
    _, procedures = sample
    codes = [p.code for p in procedures]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert NATIONAL_CODE.match(code) or LOCAL_CODE.match(code), code


def test_land_procedures_are_handed_up_to_the_upper_level_except_commune_mediation(sample):
    _, procedures = sample
    land = [p for p in procedures if p.field == "Đất đai"]
    assert any(p.handed_up for p in land)
    assert all(p.handed_up for p in land if "hòa giải" not in p.name.lower())


def test_certification_procedures_that_are_same_day_have_the_15_00_cutoff(sample):
    _, procedures = sample
    same_day_certs = [p for p in procedures if p.field == "Chứng thực" and p.limit_unit == "same_day"]
    assert len(same_day_certs) >= 3
    assert all(p.same_day_cutoff == "15:00" for p in same_day_certs)
    by_code = {p.code: p for p in procedures}
    assert by_code["2.000815"].limit_unit == "same_day"
    assert by_code["2.000884"].limit_unit == "same_day"


def test_sample_time_limits_match_common_practice(sample):
    _, procedures = sample
    by_code = {p.code: p for p in procedures}
    assert by_code["1.001193"].limit_label() == "Trong ngày"        # khai sinh
    assert by_code["1.000894"].limit_label() == "5 ngày làm việc"   # kết hôn
    assert by_code["1.004873"].limit_label() == "3 ngày làm việc"   # xác nhận tình trạng hôn nhân
    assert by_code["1.001731"].limit_label() == "3 ngày làm việc"   # mai táng phí
    assert any(p.limit_unit == "calendar_days" for p in procedures)


def test_every_sample_unit_and_document_kind_is_a_known_one(sample):
    _, procedures = sample
    for p in procedures:
        assert p.limit_unit in LIMIT_UNITS
        assert all(d.kind in DOCUMENT_KINDS and d.count >= 1 for d in p.documents)
        assert p.name and p.result and p.field


def test_every_sample_procedure_round_trips_through_to_dict_and_parse_procedure(sample):
    _, procedures = sample
    for p in procedures:
        as_dict = p.to_dict()
        assert parse_procedure(as_dict) == p
        # and through real JSON text, as central would publish it
        assert parse_procedure(json.loads(json.dumps(as_dict, ensure_ascii=False))) == p


def test_to_dict_has_exactly_the_catalogue_shape():
    p = parse_procedure(good_raw())
    assert p.to_dict() == good_raw()
    assert p.documents == (Document("Bản chính giấy tờ", "original", 1),)


def test_the_whole_sample_file_round_trips_through_parse_catalogue(sample):
    version, procedures = sample
    again = parse_catalogue({"version": version, "procedures": [p.to_dict() for p in procedures]})
    assert again == (version, procedures)


# ------------------------------------------------------- strict refusals --

@pytest.mark.parametrize(
    "change, field",
    [
        ({"unit": "days"}, "limit.unit"),
        ({"fee": -1}, "fee"),
        ({"fee": 1.5}, "fee"),
        ({"fee": True}, "fee"),
        ({"fee": "2000"}, "fee"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"field": None}, "field"),
        ({"result": ""}, "result"),
        ({"handed_up": "no"}, "handed_up"),
        ({"handed_up": 0}, "handed_up"),
        ({"same_day_cutoff": "3pm"}, "same_day_cutoff"),
        ({"same_day_cutoff": "24:00"}, "same_day_cutoff"),
        ({"same_day_cutoff": "15:60"}, "same_day_cutoff"),
        ({"same_day_cutoff": "9:00"}, "same_day_cutoff"),
        ({"documents": "Bản chính"}, "documents"),
        ({"fee_note": 0}, "fee_note"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_the_code_and_the_field(change, field):
    raw = good_raw()
    if "unit" in change:
        raw["limit"] = {"value": 2, "unit": change["unit"]}
        raw["same_day_cutoff"] = None
    else:
        raw.update(change)
    with pytest.raises(CatalogueError) as err:
        parse_procedure(raw)
    message = str(err.value)
    assert "'2.000815'" in message
    assert f"'{field}'" in message


@pytest.mark.parametrize(
    "documents, field",
    [
        ([{"name": "Tờ khai", "kind": "scan", "count": 1}], "documents[0].kind"),
        ([{"name": "Tờ khai", "kind": "copy", "count": -2}], "documents[0].count"),
        ([{"name": "Tờ khai", "kind": "copy", "count": 0}], "documents[0].count"),
        ([{"name": "", "kind": "copy", "count": 1}], "documents[0].name"),
        ([{"name": "Tờ khai", "kind": "copy"}], "documents[0].count"),
        ([{"name": "Tờ khai", "kind": "copy", "count": 1, "note": "x"}], "documents[0].note"),
        (["Tờ khai"], "documents[0]"),
    ],
)
def test_bad_documents_are_refused_naming_the_document_field(documents, field):
    with pytest.raises(CatalogueError) as err:
        parse_procedure(good_raw(documents=documents))
    assert "'2.000815'" in str(err.value)
    assert f"'{field}'" in str(err.value)


def test_missing_and_unknown_keys_are_refused_by_name():
    raw = good_raw()
    del raw["fee_note"]
    with pytest.raises(CatalogueError, match=r"'2\.000815'.*'fee_note'.*missing"):
        parse_procedure(raw)
    with pytest.raises(CatalogueError, match=r"'2\.000815'.*'price'.*not a known field"):
        parse_procedure(good_raw(price=1000))
    with pytest.raises(CatalogueError, match=r"'2\.000815'.*'limit\.days'"):
        parse_procedure(good_raw(limit={"value": 0, "unit": "same_day", "days": 1}))
    with pytest.raises(CatalogueError, match=r"'2\.000815'.*'limit\.unit'.*missing"):
        parse_procedure(good_raw(limit={"value": 0}))


def test_a_procedure_without_a_code_is_refused_and_says_so():
    raw = good_raw()
    del raw["code"]
    with pytest.raises(CatalogueError, match=r"<no code>.*'code'"):
        parse_procedure(raw)
    with pytest.raises(CatalogueError, match=r"'code'.*empty"):
        parse_procedure(good_raw(code=""))
    with pytest.raises(CatalogueError):
        parse_procedure(["not", "an", "object"])


def test_limit_values_must_fit_their_unit():
    with pytest.raises(CatalogueError, match=r"'limit\.value'.*negative"):
        make("working_days", -3)
    with pytest.raises(CatalogueError, match=r"'limit\.value'.*at least 1"):
        make("working_days", 0)
    with pytest.raises(CatalogueError, match=r"'limit\.value'.*0 for a same_day"):
        make("same_day", 1, "15:00")
    with pytest.raises(CatalogueError, match=r"'same_day_cutoff'.*only allowed with a same_day"):
        make("working_days", 5, "15:00")
    assert make("same_day", 0, None).same_day_cutoff is None


def test_catalogue_version_must_be_a_positive_integer():
    for bad in (0, -1, "1", 1.0, True, None):
        with pytest.raises(CatalogueError, match=r"'version'"):
            parse_catalogue({"version": bad, "procedures": []})
    assert parse_catalogue({"version": 3, "note": "", "procedures": []}) == (3, [])


def test_catalogue_refuses_unknown_or_missing_top_level_keys():
    with pytest.raises(CatalogueError, match=r"'procedures'.*missing"):
        parse_catalogue({"version": 1})
    with pytest.raises(CatalogueError, match=r"'holidays'"):
        parse_catalogue({"version": 1, "procedures": [], "holidays": []})
    with pytest.raises(CatalogueError, match=r"'procedures'.*list"):
        parse_catalogue({"version": 1, "procedures": {}})


def test_catalogue_refuses_duplicate_codes_naming_the_code():
    raw = {"version": 1, "procedures": [good_raw(), good_raw(name="Tên khác")]}
    with pytest.raises(CatalogueError, match=r"procedures\[1\].*'2\.000815'.*duplicate"):
        parse_catalogue(raw)


def test_catalogue_errors_say_which_procedure_in_the_list_is_wrong():
    raw = {"version": 1, "procedures": [good_raw(), good_raw(code="1.001193", fee=-5)]}
    with pytest.raises(CatalogueError, match=r"procedures\[1\].*'1\.001193'.*'fee'"):
        parse_catalogue(raw)


def test_parsing_does_not_modify_the_input(sample):
    raw = good_raw()
    before = copy.deepcopy(raw)
    parse_procedure(raw)
    assert raw == before


# ---------------------------------------------------------- filter/fields --

def test_fields_are_sorted_and_unique(sample):
    _, procedures = sample
    names = fields(procedures)
    assert len(names) == len(set(names))
    assert "Hộ tịch" in names and "Chứng thực" in names
    assert names.index("Chứng thực") < names.index("Đất đai") < names.index("Hộ tịch")
    assert fields([]) == []


@pytest.mark.parametrize(
    "query",
    ["khai sinh", "KHAI SINH", "dang ky", "Dang Ky Khai Sinh", "  ĐĂNG   KÝ khai sinh ", "đăng ký khai sinh",
     "dang ky khai sinh", "1.001193", "001193"],
)
def test_filter_finds_dang_ky_khai_sinh_without_diacritics_and_by_code(sample, query):
    _, procedures = sample
    found = filter_procedures(procedures, query)
    assert "1.001193" in [p.code for p in found], query


def test_filter_treats_d_and_đ_alike(sample):
    _, procedures = sample
    with_d = [p.code for p in filter_procedures(procedures, "dat dai")]
    with_đ = [p.code for p in filter_procedures(procedures, "đất đai")]
    assert with_d == with_đ
    assert with_d, "the land mediation procedure names 'đất đai'"


def test_filter_puts_an_exact_code_match_first_and_keeps_catalogue_order_otherwise(sample):
    _, procedures = sample
    assert filter_procedures(procedures, "1.001193")[0].code == "1.001193"
    found = filter_procedures(procedures, "ket hon")
    codes = [p.code for p in found]
    assert "1.000894" in codes and "1.004746" in codes
    order = [p.code for p in procedures]
    assert codes.index("1.000894") < codes.index("1.004746")
    # names that start with the query come before names that merely contain it
    found = filter_procedures(procedures, "chung thuc")
    assert all(p.name.startswith("Chứng thực") for p in found[:3])
    assert set(order) >= set(codes)


def test_filter_needs_every_word_and_returns_everything_for_an_empty_query(sample):
    _, procedures = sample
    assert filter_procedures(procedures, "khai sinh xyzzy") == []
    assert filter_procedures(procedures, "") == procedures
    assert filter_procedures(procedures, "   ") == procedures
    assert filter_procedures(iter(procedures), "khai tu")


# ------------------------------------------------------------ limit label --

def test_limit_labels_are_vietnamese():
    assert make("working_days", 5).limit_label() == "5 ngày làm việc"
    assert make("same_day", 0, "15:00").limit_label() == "Trong ngày"
    assert make("working_hours", 8).limit_label() == "8 giờ làm việc"
    assert make("calendar_days", 30).limit_label() == "30 ngày"
