"""Issue 12.2/12.3 across real processes: a correction made at the node reaches central through the
signed sync, and central's public /xac-thuc then says the old receipt is superseded and the reprint genuine."""
from __future__ import annotations

import re
from html import unescape

import pytest
import requests

from tests.conftest import wait_until
from tests.e2e.harness import Central, Node, login

AGENCY = "000.00.06.H56"


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    code = central.add_node(AGENCY)
    central.start()
    node.enroll(central.url, code)
    node.start()
    yield central, node
    node.stop()
    central.stop()


def receipt_qr(session, node, code) -> str:
    page = session.get(f"{node.url}/bieu-mau/{code}/01", timeout=10).text
    return unescape(re.search(r'data-qr="([^"]+)"', page).group(1))


def central_outcome(central, text) -> str:
    page = requests.get(f"{central.url}/xac-thuc", params={"ma": text}, timeout=10).text
    match = re.search(r'data-outcome="([a-z_]+)"', page)
    return match.group(1) if match else ""


def test_a_correction_at_the_node_makes_centrals_verification_say_superseded(world):
    central, node = world
    code = node.intake(1)[0]
    session = login(node.url)
    old = receipt_qr(session, node, code)
    wait_until(lambda: central.db().execute("SELECT 1 FROM dossiers WHERE code = ?", (code,)).fetchone(), 30,
               message="central has the dossier")
    assert central_outcome(central, old) == "genuine"

    form_page = session.get(f"{node.url}/ho-so/{code}/dinh-chinh", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form_page).group(1)
    fields = {name: unescape(value) for name, value in re.findall(r'<input name="(\w+)" value="([^"]*)"', form_page)}
    documents = unescape(re.search(r'<textarea name="documents"[^>]*>(.*?)</textarea>', form_page, re.S).group(1))
    r = session.post(f"{node.url}/ho-so/{code}/dinh-chinh", timeout=10, allow_redirects=False, data=dict(
        fields, csrf_token=token, procedure="1.001193", documents=documents, sex="",
        name=fields["name"] + " Anh", reason="Ghi sai tên người nộp"))
    assert r.status_code == 303, r.text[:300]
    new = receipt_qr(session, node, code)

    wait_until(lambda: central_outcome(central, old) == "superseded", 30, message="central applied the correction")
    assert central_outcome(central, new) == "genuine"
    row = central.db().execute("SELECT applicant_name FROM dossiers WHERE code = ?", (code,)).fetchone()
    assert row[0].endswith(" Anh")
