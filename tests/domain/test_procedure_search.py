"""Issue 12.5: the procedure filter matches words in any order and prefixes, without diacritics."""
from __future__ import annotations

import pytest

from domain.catalogue import load_sample_catalogue
from domain.procedure_search import rank, search_text


@pytest.fixture(scope="module")
def procedures():
    return load_sample_catalogue()[1]


def best(procedures, query):
    found = rank(query, procedures, lambda p: search_text(p.code, p.name, p.field))
    return found[0].name if found else None


@pytest.mark.parametrize("query, expected", [
    ("dat dai bien dong", "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất"),
    ("kh sinh", "Đăng ký khai sinh"),
    ("khai sinh", "Đăng ký khai sinh"),
    ("sinh khai", "Đăng ký khai sinh"),
    ("KẾT HÔN", "Đăng ký kết hôn"),
    ("chung thuc chu ky", "Chứng thực chữ ký trong các giấy tờ, văn bản"),
])
def test_typed_words_find_their_procedure_first(procedures, query, expected):
    assert best(procedures, query) == expected


def test_words_that_match_nothing_find_nothing(procedures):
    assert best(procedures, "xyz khai") is None
