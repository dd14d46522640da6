"""Issue 8.12: a search by ID number or phone is an access to personal data, so it is access-logged."""
from __future__ import annotations

from appshell.sqlite import connect
from tests.conftest import receive


def access_rows(app) -> list[tuple[str, str, str]]:
    conn = connect(app.config["DATABASE"])
    try:
        return [(r["username"], r["dossier"], r["action"]) for r in conn.execute(
            "SELECT username, dossier, action FROM access_log ORDER BY id")]
    finally:
        conn.close()


def test_a_search_by_id_number_writes_an_access_log_row_for_each_dossier_listed(app, ctx, clerk):
    code = receive(ctx)["code"]
    assert clerk.get("/tim-kiem", query_string={"q": "001203004567"}).status_code == 200
    assert ("lan", code, "search_id_number") in access_rows(app)


def test_a_search_by_phone_writes_an_access_log_row_even_when_nothing_matches(app, ctx, clerk):
    code = receive(ctx)["code"]
    clerk.get("/tim-kiem", query_string={"q": "0912 345 678"})
    clerk.get("/tim-kiem", query_string={"q": "0987654321"})
    rows = access_rows(app)
    assert ("lan", code, "search_phone") in rows
    assert ("lan", "*search*", "search_phone") in rows  # a miss is recorded too: someone looked


def test_a_search_by_name_logs_the_dossiers_it_shows(app, ctx, clerk):
    code = receive(ctx)["code"]
    clerk.get("/tim-kiem", query_string={"q": "nguyen van dung"})
    assert ("lan", code, "search_name") in access_rows(app)
