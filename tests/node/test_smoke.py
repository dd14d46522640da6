

def test_home_requires_login(client):
    r = client.get("/")
    assert r.status_code == 302 and "/dang-nhap" in r.headers["Location"]


def test_clerk_sees_the_desk_after_login(clerk):
    r = clerk.get("/")
    assert r.status_code == 200
    assert "Tiếp nhận hồ sơ mới" in r.get_data(as_text=True)
