"""Issue 12.9: the public kiosk catalogue, the lookup by scanned receipt QR, the lookup limit per code."""
from __future__ import annotations

import re
from html import unescape

from tests.conftest import receive


def test_the_catalogue_is_public_and_shows_field_documents_limit_fee_and_where_to_submit(client):
    r = client.get("/thu-tuc")
    page = r.get_data(as_text=True)
    assert r.status_code == 200  # no login
    assert "Đăng ký khai sinh" in page and "Hộ tịch" in page and "Giấy tờ cần nộp" in page
    assert "Tờ khai đăng ký khai sinh" in page and "Phí, lệ phí" in page and "Nơi nộp hồ sơ" in page


def test_the_catalogue_is_searchable_without_diacritics_and_says_when_nothing_matches(client):
    page = client.get("/thu-tuc", query_string={"q": "dat dai bien dong"}).get_data(as_text=True)
    names = re.findall(r"<summary><strong>(.*?)</strong>", page)
    assert names[0].startswith("Đăng ký biến động") and not any("khai sinh" in n for n in names)
    assert "Bộ phận Một cửa – UBND xã Hòa Bình" in page
    page = client.get("/thu-tuc", query_string={"q": "kh sinh"}).get_data(as_text=True)
    assert re.findall(r"<summary><strong>(.*?)</strong>", page)[0] == "Đăng ký khai sinh"
    page = client.get("/thu-tuc", query_string={"q": "xyzzy"}).get_data(as_text=True)
    assert "Không tìm thấy thủ tục nào" in page


def test_the_lookup_accepts_a_scanned_receipt_qr_in_the_code_box(ctx, clerk, client):
    code = receive(ctx)["code"]
    qr = unescape(re.search(r'data-qr="([^"]+)"', clerk.get(f"/bieu-mau/{code}/01").get_data(as_text=True))[1])
    r = client.post("/tra-cuu", data={"ma": qr, "so": "5678"})
    assert r.status_code == 200 and "Được tiếp nhận" in r.get_data(as_text=True)


def test_wrong_pairs_lock_one_dossier_code_not_everyone_behind_the_same_kiosk(ctx, client):
    first = receive(ctx)["code"]
    second = receive(ctx)["code"]
    for _ in range(10):
        client.post("/tra-cuu", data={"ma": first, "so": "1111"})
    assert client.post("/tra-cuu", data={"ma": first, "so": "5678"}).status_code == 429
    # the next citizen at the same kiosk (same address) still looks up their own dossier
    assert client.post("/tra-cuu", data={"ma": second, "so": "5678"}).status_code == 200
    # a kiosk hammered across many codes is still limited by address, at ten times the code limit
    for i in range(100):
        client.post("/tra-cuu", data={"ma": first[:-4] + f"{i + 100:04d}", "so": "1111"})
    assert client.post("/tra-cuu", data={"ma": second, "so": "5678"}).status_code == 429
