"""Central's public /xac-thuc (issue 12.2): a node's paper QR checked with the node's registered key."""
from __future__ import annotations

from datetime import datetime

from domain import workflow
from protocol import keys
from protocol.paper_qr import PaperQR, encode
from tests.central.conftest import AGENCY, APPLICANT


def paper(node, code, revision=0, key=None):
    return encode(PaperQR(document=1, dossier=code, procedure="1.000894", applicant="0012******67", issuer=AGENCY,
                          issued_at=datetime(2026, 1, 5, 9, 0), until=datetime(2026, 1, 12, 9, 0),
                          revision=revision), key or node.key)


def outcome(central, text):
    r = central.get("/xac-thuc", query_string={"ma": text})
    page = r.get_data(as_text=True)
    return r.status_code, page.split('data-outcome="')[1].split('"')[0] if 'data-outcome="' in page else None, page


def test_central_says_genuine_with_the_commune_and_dossier_then_superseded_after_a_pushed_correction(central, node):
    code = node.receive()
    assert node.push(central).status_code == 200
    text = paper(node, code)
    status, result, page = outcome(central, text)
    assert (status, result) == (200, "genuine")
    assert "UBND xã Hòa Bình" in page and code in page and "05/01/2026" in page

    node.act(code, lambda s, p, now, cal, proc: workflow.correct(
        s, {"reason": "Sai tên", "applicant": dict(APPLICANT, name="Nguyễn Văn Dũng Anh")}, now, cal))
    assert node.push(central).status_code == 200
    assert outcome(central, text)[:2] == (200, "superseded")
    assert outcome(central, paper(node, code, revision=1))[:2] == (200, "genuine")


def test_central_says_forged_for_another_key_and_unknown_for_an_unenrolled_issuer(central, node):
    code = node.receive()
    assert outcome(central, paper(node, code, key=keys.generate()))[:2] == (422, "forged")
    other = encode(PaperQR(document=1, dossier="000.00.99.H56-260105-0001", procedure="1.000894", applicant="",
                           issuer="000.00.99.H56", issued_at=datetime(2026, 1, 5, 9), until=None), keys.generate())
    assert outcome(central, other)[:2] == (422, "unknown_issuer")
    assert outcome(central, "not a qr")[:2] == (422, "invalid")
    assert central.get("/xac-thuc").status_code == 200  # the empty form, no login needed


def test_central_verifies_a_photo_of_a_paper_qr(central_app, central, node):
    import io

    from tests.node.test_counter_correct import photo_of
    code = node.receive()
    central_app.config["WTF_CSRF_ENABLED"] = False
    r = central.post("/xac-thuc", data={"anh": (io.BytesIO(photo_of(paper(node, code), angle=-5)), "p.jpg")},
                     content_type="multipart/form-data")
    assert r.status_code == 200 and 'data-outcome="genuine"' in r.get_data(as_text=True)
    r = central.post("/xac-thuc", data={"anh": (io.BytesIO(b"GIF89a-broken"), "p.gif")},
                     content_type="multipart/form-data")
    assert r.status_code == 400 and "Không đọc được mã QR trong ảnh" in r.get_data(as_text=True)
