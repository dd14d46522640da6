"""The card QR parser (domain/card.py): chip CCCD, Căn cước, extra fields, garbage."""
from __future__ import annotations

import pytest

from domain.card import NotACard, looks_like_card, parse_card

CCCD = "001090004567|123456789|Nguyễn Văn Dũng|15041990|Nam|Thôn Đông, Hòa Bình, Quảng Ninh|10082021"


def test_a_chip_cccd_payload_gives_every_field_of_the_applicant():
    card = parse_card(CCCD)
    assert card.kind == "cccd"
    assert card.applicant() == {"name": "Nguyễn Văn Dũng", "id_number": "001090004567",
                                "birth_date": "1990-04-15", "sex": "Nam",
                                "address": "Thôn Đông, Hòa Bình, Quảng Ninh"}
    assert card.old_id_number == "123456789" and card.issue_date == "2021-08-10" and card.missing == ()


def test_a_cccd_without_an_old_id_number_still_parses():
    card = parse_card("079301112233||Đặng Thị Đào|01022001|Nữ|12 Lê Lợi, Bến Thành, TP Hồ Chí Minh|05062022")
    assert (card.id_number, card.old_id_number, card.name, card.sex) == ("079301112233", "", "Đặng Thị Đào", "Nữ")
    assert card.birth_date == "2001-02-01"


def test_a_can_cuoc_payload_with_another_field_set_and_extra_fields_is_read_by_what_fields_look_like():
    text = ("022203009876||Trần Thị Mai|07/09/2003|Nữ|Tổ 3, phường Hồng Gai, Quảng Ninh|15/08/2024|"
            "Nơi cư trú khác|extra|14082039")
    card = parse_card(text)
    assert card.kind == "can_cuoc"
    assert card.applicant() == {"name": "Trần Thị Mai", "id_number": "022203009876", "birth_date": "2003-09-07",
                                "sex": "Nữ", "address": "Tổ 3, phường Hồng Gai, Quảng Ninh"}
    assert card.issue_date == "2024-08-15"


def test_an_incomplete_scan_says_what_it_lacks_instead_of_guessing():
    card = parse_card("001090004567|||||")
    assert card.applicant() == {"id_number": "001090004567"}
    assert set(card.missing) == {"name", "birth_date", "sex", "address"}


@pytest.mark.parametrize("text", ["", "hello", "0912345678", "12345|a|b|c|d", "001090004567|a",
                                  "00109000456x|a|b|c|d|e", "001090004567|" + "x|" * 2000])
def test_text_that_is_not_a_card_payload_is_refused(text):
    with pytest.raises(NotACard):
        parse_card(text)


def test_looks_like_card_needs_an_id_number_then_separators():
    assert looks_like_card(CCCD)
    assert not looks_like_card("Nguyễn Văn Dũng|1990")
