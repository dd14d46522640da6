"""The JSON API: Bearer tokens, one error shape, intake, actions, search and lists."""
import pytest

from appshell import accounts
from appshell.sqlite import connect
from node import roles
from tests.conftest import APPLICANT


@pytest.fixture
def token(app, clock):
    conn = connect(app.config["DATABASE"])
    try:
        return accounts.create_token(conn, accounts.by_name(conn, "lan"), "test", clock.now, prefix=roles.TOKEN_PREFIX)
    finally:
        conn.close()


@pytest.fixture
def api(client, token):
    class Api:
        def __init__(self):
            self.headers = {"Authorization": f"Bearer {token}"}

        def get(self, path, **kw):
            return client.get("/api/v1" + path, headers=self.headers, **kw)

        def post(self, path, json=None, **kw):
            return client.post("/api/v1" + path, headers=self.headers, json=json, **kw)
    return Api()


INTAKE = {"procedure_code": "1.001193", "applicant": APPLICANT,
          "documents": [{"name": "Tờ khai đăng ký khai sinh", "kind": "original", "count": 1}],
          "channel": "in_person", "return_method": "desk"}


def assert_error_shape(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_requests_without_a_valid_token_get_401_in_the_error_shape(client):
    assert_error_shape(client.get("/api/v1/procedures"), 401, "unauthorized")
    r = client.get("/api/v1/procedures", headers={"Authorization": "Bearer nope"})
    assert_error_shape(r, 401, "unauthorized")


def test_intake_through_the_api_returns_the_dossier_with_code_and_due_time(api):
    r = api.post("/dossiers", json=INTAKE)
    assert r.status_code == 201
    body = r.get_json()
    assert body["code"] == "000.00.06.H56-260105-0001" and body["due_at"] == "2026-01-05T17:00:00"
    assert api.get(f"/dossiers/{body['code']}").get_json()["applicant"]["id_number"] == "001203004567"


def test_invalid_intake_gets_field_messages_and_saves_nothing(api, app):
    r = api.post("/dossiers", json=dict(INTAKE, applicant=dict(APPLICANT, phone="12")))
    error = assert_error_shape(r, 422, "validation_failed")
    assert "phone" in error["fields"]
    assert_error_shape(api.post("/dossiers", json=[1, 2]), 400, "bad_request")
    assert_error_shape(api.post("/dossiers", json=dict(INTAKE, documents="x")), 422, "validation_failed")
    conn = connect(app.config["DATABASE"])
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_actions_run_through_the_api_and_illegal_ones_get_409(api):
    code = api.post("/dossiers", json=INTAKE).get_json()["code"]
    assert_error_shape(api.post(f"/dossiers/{code}/actions/resolve", json={}), 409, "illegal_transition")
    assert api.post(f"/dossiers/{code}/actions/start", json={"handler": "hung"}).get_json()["status"] == 4
    assert api.post(f"/dossiers/{code}/actions/resolve", json={}).get_json()["status"] == 9
    done = api.post(f"/dossiers/{code}/actions/return", json={"rating": 4}).get_json()
    assert done["status"] == 10 and done["rating"] == 4
    assert_error_shape(api.post(f"/dossiers/{code}/actions/fly", json={}), 404, "unknown_action")
    assert_error_shape(api.post("/dossiers/NOPE/actions/start", json={}), 404, "not_found")


def test_search_and_lists_mask_id_numbers_and_hide_phones(api):
    api.post("/dossiers", json=INTAKE)
    rows = api.get("/dossiers", query_string={"q": "nguyen van dung"}).get_json()["dossiers"]
    assert len(rows) == 1 and rows[0]["id_number"] == "0012******67" and rows[0]["phone"] is None
    assert len(api.get("/lists/today").get_json()["dossiers"]) == 1
    assert len(api.get("/lists/due_soon").get_json()["dossiers"]) == 1
    assert api.get("/lists/overdue").get_json()["dossiers"] == []
    assert len(api.get("/dossiers", query_string={"status": 2}).get_json()["dossiers"]) == 1
    assert_error_shape(api.get("/dossiers"), 422, "validation_failed")
    assert_error_shape(api.get("/lists/nope"), 404, "not_found")


def test_unknown_api_paths_and_methods_use_the_same_error_shape(api, client):
    assert_error_shape(api.get("/nothing-here"), 404, "not_found")
    assert_error_shape(client.delete("/api/v1/procedures", headers=api.headers), 405, "method_not_allowed")


def test_api_reading_a_dossier_is_written_to_the_access_log(api, app):
    code = api.post("/dossiers", json=INTAKE).get_json()["code"]
    api.get(f"/dossiers/{code}")
    conn = connect(app.config["DATABASE"])
    assert conn.execute("SELECT action FROM access_log WHERE dossier = ?", (code,)).fetchone()[0] == "api_get"
