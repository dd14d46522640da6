"""Issue 12.5: spaces in ID numbers and phones are accepted and removed; birth dates typed dd/mm/yyyy."""
from __future__ import annotations

from domain.citizen import parse_birth_date, validate_applicant


def test_spaces_in_id_numbers_and_phones_are_accepted_and_removed():
    applicant, errors = validate_applicant({"name": "Nguyễn Văn Dũng", "id_number": "001 203 004 567",
                                            "phone": " 0912 345 678 ", "address": "Thôn Đông"})
    assert errors == []
    assert applicant["id_number"] == "001203004567" and applicant["phone"] == "0912345678"


def test_birth_dates_are_read_day_first_whatever_the_browsers_locale():
    assert parse_birth_date("15/04/1990") == "1990-04-15"
    assert parse_birth_date("5.4.1990") == "1990-04-05"
    assert parse_birth_date("1990-04-15") == "1990-04-15"
    assert parse_birth_date("31/02/1990") is None
    assert parse_birth_date("") == ""


def test_a_bad_birth_date_or_sex_is_reported_with_the_other_errors_and_good_ones_are_kept():
    _a, errors = validate_applicant({"name": "", "id_number": "1", "phone": "1", "address": "",
                                     "birth_date": "31/02/1990", "sex": "X"})
    assert {e.field for e in errors} == {"name", "id_number", "phone", "address", "birth_date", "sex"}
    applicant, errors = validate_applicant({"name": "Trần Thị Mai", "id_number": "022203009876",
                                            "phone": "0987654321", "address": "Hồng Gai",
                                            "birth_date": "07/09/2003", "sex": "Nữ"})
    assert errors == [] and applicant["birth_date"] == "2003-09-07" and applicant["sex"] == "Nữ"
