"""Document metadata reaches central through the ordinary event log, and central shows the digitisation rate."""
from __future__ import annotations

import json

import requests

from tests.conftest import wait_until
from tests.e2e.harness import Central, Node, login
from tests.node import document_samples as samples

AGENCY = "000.00.06.H56"


def test_central_materialises_each_dossiers_document_list_from_metadata_events_only(tmp_path):
    central, node = Central(tmp_path), Node(tmp_path, AGENCY)
    try:
        code = central.add_node(AGENCY)
        central.start()
        node.enroll(central.url, code)
        node.start()
        first, second = node.intake(2)
        h = {"Authorization": f"Bearer {node.token}"}
        r = requests.post(f"{node.url}/api/v1/dossiers/{first}/attachments", headers=h, data={"component": "0"},
                          files={"file": ("a.jpg", samples.small_jpeg(1))}, timeout=60)
        assert r.status_code == 201, r.text
        attachment = r.json()
        wait_until(lambda: len(central.events(AGENCY)) == len(node.events()), 30, message="events at central")
        conn = central.db()
        doc = json.loads(conn.execute("SELECT doc FROM dossiers WHERE code = ?", (first,)).fetchone()[0])
        assert [(a["hash"], a["size"], a["mime"], a["pages"], a["component"]) for a in doc["attachments"]] == \
            [(attachment["hash"], attachment["size"], "image/jpeg", 1, 0)]
        assert conn.execute("SELECT count(*) FROM anomalies").fetchone()[0] == 0
        bodies = " ".join(r[0] for r in conn.execute("SELECT body FROM events"))
        assert "JFIF" not in bodies  # metadata only: no bytes crossed in the log
        session = login(central.url, "admin", "Admin-pass-2026")
        listed = session.get(f"{central.url}/ho-so/{first}").text
        table = listed[listed.index('id="central-documents"'):]
        assert "Tờ khai" in table and attachment["hash"][:16] in table and "Chưa nhận tệp" in table
        page = session.get(central.url + "/").text
        rates = page[page.index('id="digitisation-rates"'):]
        total = rates[rates.index('class="total"'):]
        assert "1/2" in total and "50,0%" in total  # one of the two dossiers received is fully digitised
        csv_text = session.get(central.url + "/so-hoa.csv").content.decode("utf-8-sig")
        assert [line for line in csv_text.splitlines() if line.startswith(",Tổng cộng")] == \
            [",Tổng cộng,,2,1,50.0,0,0,"]
        assert f"{AGENCY},UBND xã Hòa Bình,Hộ tịch,2,1,50.0" in csv_text
    finally:
        node.stop()
        central.stop()
