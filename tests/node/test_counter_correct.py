"""Issue 12.3 (correct and reprint) and 12.2 (the signed QR: genuine, superseded, forged) on the node."""
from __future__ import annotations

import re
from html import unescape

from click.testing import CliRunner

from appshell.sqlite import connect
from domain.dossier import apply_event
from node import events, store
from node.cli import main
from tests.conftest import receive

FIVE_DAYS = "1.000894"  # Đăng ký kết hôn, 5 working days


def qr_texts(page: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'data-qr="([^"]+)"', page)]


def correct_form(d, **overrides):
    form = {"procedure": d["procedure_code"], "name": d["applicant"]["name"],
            "id_number": d["applicant"]["id_number"], "phone": d["applicant"]["phone"],
            "address": d["applicant"]["address"], "email": "", "birth_date": "", "sex": "",
            "documents": "Tờ khai; bản chính; 1", "reason": "Ghi sai tên người nộp"}
    form.update(overrides)
    return form


def test_a_clerk_corrects_the_name_and_the_code_stays_with_an_audited_event(app, ctx, clerk):
    d = receive(ctx)
    r = clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d, name="Nguyễn Văn Dũng Anh"))
    assert r.status_code == 303
    after = store.get(connect(app.config["DATABASE"]), d["code"])
    assert after["code"] == d["code"] and after["applicant"]["name"] == "Nguyễn Văn Dũng Anh"
    assert after["corrections"][0]["reason"] == "Ghi sai tên người nộp"
    assert after["corrections"][0]["fields"] == ["applicant"]
    conn = connect(app.config["DATABASE"])
    [event] = [e for e in events.for_dossier(conn, d["code"]) if e["type"] == "dossier.corrected"]
    assert event["actor"] == "lan" and event["data"]["note"] == "Ghi sai tên người nộp"
    # central materialises through the same reducer: replaying every event gives the node's row
    state = None
    for e in events.for_dossier(conn, d["code"]):
        state = apply_event(state, e)
    assert state == after


def test_changing_the_procedure_recomputes_the_due_time_from_the_original_receipt(app, ctx, clerk, clock):
    d = receive(ctx)  # same-day procedure received Monday 09:00
    clock.advance(days=1, hours=2)
    r = clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d, procedure=FIVE_DAYS,
                                                                        reason="Chọn nhầm thủ tục"))
    assert r.status_code == 303
    after = store.get(connect(app.config["DATABASE"]), d["code"])
    assert after["procedure_code"] == FIVE_DAYS and after["received_at"] == d["received_at"]
    assert after["due_at"] == "2026-01-10T09:00:00"  # 5 working days from Monday 09:00 (Saturday 10 Jan worked)


def test_a_correction_without_a_reason_or_without_a_change_is_refused_and_changes_nothing(app, ctx, clerk):
    d = receive(ctx)
    assert clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d, reason="")).status_code == 400
    assert clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d)).status_code == 400
    r = clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d, name="", id_number="1"))
    assert r.status_code == 400 and 'aria-invalid="true"' in r.get_data(as_text=True)
    assert store.get(connect(app.config["DATABASE"]), d["code"]) == d


def test_after_processing_starts_only_a_leader_may_correct(app, ctx, clerk, client):
    d = receive(ctx)
    store.act(ctx(), d["code"], "start", {"handler": "Trần Văn Hùng"})
    d = store.get(connect(app.config["DATABASE"]), d["code"])
    r = clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d, name="Nguyễn Văn Dũng Anh"))
    assert r.status_code == 400 and "chỉ lãnh đạo" in r.get_data(as_text=True)
    after = store.correct(ctx("hung"), d["code"], {"reason": "Sai tên",
                                                    "applicant": dict(d["applicant"], name="Lê Văn A")}, role="leader")
    assert after["applicant"]["name"] == "Lê Văn A" and after["status"] == 4


def test_the_reprinted_receipt_says_in_lai_and_the_old_copys_qr_verifies_as_superseded(app, ctx, clerk, client):
    d = receive(ctx)
    old = qr_texts(clerk.get(f"/bieu-mau/{d['code']}/01").get_data(as_text=True))
    assert len(old) == 2  # one per copy
    page = client.get("/xac-thuc", query_string={"ma": old[0]}).get_data(as_text=True)
    assert "Văn bản hợp lệ" in page and d["code"] in page and "UBND xã Hòa Bình" in page
    assert "0012******67" in page and "001203004567" not in page

    clerk.post(f"/ho-so/{d['code']}/dinh-chinh", data=correct_form(d, name="Nguyễn Văn Dũng Anh"))
    reprint = clerk.get(f"/bieu-mau/{d['code']}/01").get_data(as_text=True)
    assert "IN LẠI" in reprint
    r = client.get("/xac-thuc", query_string={"ma": old[0]})
    assert r.status_code == 200 and 'data-outcome="superseded"' in r.get_data(as_text=True)
    new = qr_texts(reprint)[0]
    assert 'data-outcome="genuine"' in client.get("/xac-thuc", query_string={"ma": new}).get_data(as_text=True)


def test_a_forged_or_garbled_qr_is_reported_as_such_on_the_page_and_by_verify_qr(app, ctx, clerk, client, node_dir):
    d = receive(ctx)
    genuine = qr_texts(clerk.get(f"/bieu-mau/{d['code']}/01").get_data(as_text=True))[0]
    i = 16
    forged = genuine[:i] + ("A" if genuine[i] != "A" else "B") + genuine[i + 1:]
    r = client.get("/xac-thuc", query_string={"ma": forged})
    assert r.status_code == 422 and 'data-outcome="forged"' in r.get_data(as_text=True)
    assert 'data-outcome="invalid"' in client.get("/xac-thuc", query_string={"ma": "hello"}).get_data(as_text=True)

    runner = CliRunner()
    ok = runner.invoke(main, ["verify-qr", "--data", str(node_dir), genuine])
    assert ok.exit_code == 0 and ok.output.startswith("genuine") and d["code"] in ok.output
    bad = runner.invoke(main, ["verify-qr", "--data", str(node_dir), forged])
    assert bad.exit_code == 1 and bad.output.startswith("forged")


def test_every_form_and_the_register_carry_the_signed_qr(app, ctx, clerk):
    d = receive(ctx)
    store.act(ctx(), d["code"], "start", {"handler": "Trần Văn Hùng"})
    store.act(ctx(), d["code"], "supplement", {"items": "Bản sao giấy chứng sinh", "reason": "Thiếu"})
    for form_no in ("01", "02", "06"):
        page = clerk.get(f"/bieu-mau/{d['code']}/{form_no}").get_data(as_text=True)
        assert len(qr_texts(page)) >= 1, form_no
    register = clerk.get("/bieu-mau/so-theo-doi").get_data(as_text=True)
    assert len(qr_texts(register)) == 1
    from protocol.paper_qr import decode
    assert decode(qr_texts(register)[0])[0].document == 7


def photo_of(text: str, angle: float = 7) -> bytes:
    """A phone-like picture of a printed QR: rendered, rotated a little, on a grey background, as JPEG."""
    import io

    import segno
    from PIL import Image
    png = io.BytesIO()
    segno.make(text, error="m", micro=False).save(png, kind="png", scale=8, border=4)
    qr = Image.open(io.BytesIO(png.getvalue())).convert("L").rotate(angle, expand=True, fillcolor=255)
    canvas = Image.new("L", (qr.width + 300, qr.height + 200), 170)
    canvas.paste(qr, (150, 100))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=85)
    return out.getvalue()


def test_a_photo_of_the_receipts_qr_is_verified_and_a_non_image_is_refused_with_a_message(app, ctx, clerk, client):
    import io
    d = receive(ctx)
    text = qr_texts(clerk.get(f"/bieu-mau/{d['code']}/01").get_data(as_text=True))[0]
    app.config["WTF_CSRF_ENABLED"] = False
    r = client.post("/xac-thuc", data={"anh": (io.BytesIO(photo_of(text)), "qr.jpg")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and 'data-outcome="genuine"' in r.get_data(as_text=True)
    r = client.post("/xac-thuc", data={"anh": (io.BytesIO(b"not an image at all"), "qr.jpg")},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "Không đọc được mã QR trong ảnh" in r.get_data(as_text=True)
