"""Central's form fields that choose where a page returns to pass the one safe_next (fixtures web_app, db and
admin come from tests/central/conftest.py)."""
from __future__ import annotations

import pytest

from tests.central.test_web import enrolled, handed_up, push


@pytest.mark.parametrize("back", ["/\t/evil.example/", "//evil.example/", "/\\evil.example/", "https://evil.example/"])
@pytest.mark.parametrize("username", ["thu", "minh"])  # assigned, and refused (a viewer cannot decide)
def test_assigning_a_dossier_never_returns_to_another_site_named_in_the_back_field(web_app, db, clock, admin,
                                                                                   back, username):
    node = enrolled(web_app, db, clock)
    code = handed_up(node)
    push(web_app, node)
    r = admin.post(f"/lien-thong/{code}/phan-cong", data={"username": username, "back": back})
    assert r.status_code == 303
    assert "evil.example" not in r.headers["Location"]
    assert r.headers["Location"].endswith(f"/ho-so/{code}")


def test_assigning_a_dossier_returns_to_the_same_site_page_it_came_from(web_app, db, clock, admin):
    node = enrolled(web_app, db, clock)
    code = handed_up(node)
    push(web_app, node)
    r = admin.post(f"/lien-thong/{code}/phan-cong", data={"username": "thu", "back": "/lien-thong?ai=chua"})
    assert r.headers["Location"] == "/lien-thong?ai=chua"
