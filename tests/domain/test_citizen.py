from datetime import date

import pytest

from domain.citizen import id_number_error, mask_id_number, mask_name, normalize_phone, phone_error, validate_applicant
from domain.codes import format_code, parse_code
from domain.text import fold


@pytest.mark.parametrize("value", ["001203004567", "079099123456", "123456789", "0012 0300 4567"])
def test_accepts_twelve_digit_ids_and_legacy_nine_digit_cards(value):
    assert id_number_error(value) is None


@pytest.mark.parametrize("value,fragment", [("", "Vui lòng nhập"), ("12345", "12 chữ số"),
                                            ("00120300456A", "chỉ gồm chữ số"), ("0012030045678", "12 chữ số")])
def test_refuses_bad_id_numbers_in_vietnamese(value, fragment):
    assert fragment in id_number_error(value)


@pytest.mark.parametrize("raw,normal", [("0912345678", "0912345678"), ("+84 912 345 678", "0912345678"),
                                        ("091.234.5678", "0912345678"), ("84912345678", "0912345678")])
def test_normalises_mobile_numbers(raw, normal):
    assert normalize_phone(raw) == normal and phone_error(raw) is None


@pytest.mark.parametrize("raw", ["0212345678", "091234567", "09123456789", "abc", "0112345678"])
def test_refuses_numbers_that_are_not_vietnamese_mobiles(raw):
    assert phone_error(raw)


def test_validate_applicant_reports_every_bad_field_at_once():
    _applicant, errors = validate_applicant({"name": "", "id_number": "1", "phone": "1", "address": ""})
    assert {e.field for e in errors} == {"name", "id_number", "phone", "address"}


def test_masks_id_numbers_like_the_privacy_rules_show():
    assert mask_id_number("001203004534") == "0012******34"
    assert mask_id_number("123456789") == "1234***89"
    assert mask_name("Nguyễn Văn Dũng") == "N. V. Dũng"


def test_folding_removes_diacritics_and_maps_d_stroke():
    assert fold("Nguyễn Văn Dũng") == "nguyen van dung"
    assert fold("ĐẶNG  Thị   Đào") == "dang thi dao"


def test_dossier_codes_follow_the_agency_date_sequence_pattern():
    code = format_code("000.00.06.H56", date(2023, 10, 27), 361)
    assert code == "000.00.06.H56-231027-0361"
    assert parse_code(code) == ("000.00.06.H56", date(2023, 10, 27), 361)
    assert parse_code("000.00.06.H56-231399-0001") is None
    with pytest.raises(ValueError):
        format_code("000.00.06.H56", date(2023, 10, 27), 10000)


APPLICANTS = [
    {"name": "Nguyễn Văn An", "id_number": "001089012345", "phone": "0912345678", "address": "Thôn Đông",
     "email": "", "birth_date": "15/04/1990", "sex": "Nam"},
    {"name": "  Lê   Thị  Hoa ", "id_number": "001 089 012 345", "phone": "+84 912 345 678", "address": " Xã A "},
    {"name": "", "id_number": "12", "phone": "0123", "address": "", "email": "a@", "birth_date": "31/02/1990",
     "sex": "Khác"},
    {"name": "Trần 2", "id_number": "abc", "phone": None, "address": "x" * 301, "birth_date": "1800-01-01"},
    {"name": "x" * 101, "id_number": None, "phone": "84912345678", "address": "A", "email": "a@b.vn"},
    {},
]


@pytest.mark.parametrize("applicant", APPLICANTS)
def test_applicant_errors_are_the_problems_validate_applicant_reports(applicant):
    from domain.citizen import applicant_errors
    assert applicant_errors(applicant) == validate_applicant(applicant)[1]


def test_a_codes_day_is_read_as_strptime_reads_it():
    from datetime import datetime

    from domain.codes import _day

    def strptime(text):
        try:
            return datetime.strptime(text, "%y%m%d").date()
        except ValueError:
            return "refused"

    def ours(text):
        try:
            return _day(text)
        except ValueError:
            return "refused"

    texts = [f"{y:02d}{m:02d}{d:02d}" for y in (0, 26, 68, 69, 99) for m in range(100) for d in range(100)]
    texts += ["٢٦٠١٠٥", "26٠١05", "２６０１０５"]  # other Unicode digits: strptime's own reading
    for text in texts:
        assert ours(text) == strptime(text), text
