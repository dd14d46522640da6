"""Central's form fields that choose where a page returns to pass the one safe_next."""
from __future__ import annotations

import pytest

from tests.central.conftest import CENTRAL_ADMIN_PASSWORD, central_target
from tests.central.test_web import enrolled, handed_up, push

OTHER_ADMIN_PASSWORD = "Other-admin-2026"


@pytest.fixture
def web_app(central_dir, clock):
    from appshell import accounts
    from central import roles
    from central.app import create_app
    from central.db import connect
    conn = connect(central_target(central_dir))
    accounts.create(conn, "minh", "Viewer-pass-2026", "viewer", "Lê Văn Minh", clock.now, roles=roles.ROLES)
    accounts.create(conn, "thu", OTHER_ADMIN_PASSWORD, "admin", "Phạm Thị Thu", clock.now, roles=roles.ROLES)
    conn.close()
    return create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def db(web_app):
    from central.db import connect
    conn = connect(web_app.config["DATABASE"])
    yield conn
    conn.close()


@pytest.fixture
def admin(web_app):
    client = web_app.test_client()
    assert client.post("/dang-nhap", data={"username": "admin", "password": CENTRAL_ADMIN_PASSWORD}).status_code == 302
    return client


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
