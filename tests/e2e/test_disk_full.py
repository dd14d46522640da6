"""Durability: a disk that fills up during intake, and logs that rotate and never hold personal data.

The disk-full test puts a node's data folder on a real 20 MB ext4 filesystem (a loop-mounted
file; needs root) and fills it, so SQLite meets ENOSPC exactly as on a commune PC whose disk is
full. It is skipped, saying why, where loop mounts are not possible.
"""
from __future__ import annotations

import io
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from appshell.logs import RedactPersonalData
from node import events
from node.provision import init_node
from tests.conftest import ADMIN_PASSWORD, AGENCY, CLERK_PASSWORD, Clock, login
from tests.e2e.harness import ROOT, Node

DISK_FULL_VI = "Ổ đĩa của máy chủ đã đầy nên thao tác vừa rồi CHƯA được lưu"


@pytest.fixture
def small_disk(tmp_path):
    """A real 20 MB ext4 filesystem mounted from a file (no root reserve, so it really fills)."""
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("needs Linux, root and mkfs.ext4 to loop-mount a small filesystem")
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(["truncate", "-s", "20M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(image)], check=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"loop mount not available here: {mounted.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Write a filler file until the disk is full, then give ``leave`` bytes back."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
        f.truncate(max(0, f.tell() - leave))
    return filler


def intake_form(i: int) -> dict:
    return {"procedure": "1.001193", "name": f"Nguyễn Văn Dũng {chr(65 + i % 26)}", "id_number": "001203004567",
            "phone": "0912345678", "address": "Thôn Đông, xã Hòa Bình", "email": "", "doc": ["1"],
            "doc_name_1": "Tờ khai", "doc_kind_1": "original", "doc_count_1": "1",
            "channel": "in_person", "return_method": "desk"}


def saved_codes(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT code FROM dossiers ORDER BY code")]
    finally:
        conn.close()


def test_a_full_disk_during_intake_shows_a_clear_vietnamese_error_and_loses_nothing_saved(small_disk):
    from appshell import accounts
    from node import create_app, roles
    from node.cli import open_db
    clock = Clock(__import__("datetime").datetime(2026, 1, 5, 9, 0))
    data = small_disk / "node"
    init_node(data, agency_code=AGENCY, agency_name="UBND xã Hòa Bình", admin="admin", password=ADMIN_PASSWORD,
              now=clock.now)
    _settings, conn = open_db(data)
    accounts.create(conn, "lan", CLERK_PASSWORD, "clerk", "Nguyễn Thị Lan", clock.now, roles=roles.ROLES)
    token = accounts.create_token(conn, accounts.by_name(conn, "lan"), "test", clock.now, prefix=roles.TOKEN_PREFIX)
    conn.close()
    app = create_app({"DATA_DIR": data, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "PROPAGATE_EXCEPTIONS": False})
    clerk = app.test_client()
    assert login(clerk).status_code == 302
    db = data / "motcua-node.db"

    answered = []
    for i in range(5):
        r = clerk.post("/tiep-nhan", data=intake_form(i))
        assert r.status_code == 302
        answered.append(r.headers["Location"].split("/ho-so/")[1].split("?")[0])
    filler = fill(small_disk, leave=256 * 1024)

    full = None
    for i in range(5, 500):  # the clerk keeps receiving citizens until the disk is full
        r = clerk.post("/tiep-nhan", data=intake_form(i))
        if r.status_code != 302:
            full = r
            break
        answered.append(r.headers["Location"].split("/ho-so/")[1].split("?")[0])
    assert full is not None, "the disk never filled up"
    page = full.get_data(as_text=True)
    assert full.status_code == 507 and DISK_FULL_VI in page and "vẫn an toàn" in page
    assert "Traceback" not in page
    api = app.test_client().post("/api/v1/dossiers", headers={"Authorization": f"Bearer {token}"}, json={
        "procedure_code": "1.001193", "applicant": {"name": "Trần Thị Mai", "id_number": "022186001234",
                                                   "phone": "0987654321", "address": "Thôn Tây", "email": ""},
        "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}]})
    assert api.status_code == 507 and api.get_json()["error"]["code"] == "disk_full"

    assert saved_codes(db) == sorted(answered)  # every answered intake is there, the failed one is not
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        assert events.verify_all(conn).seq == len(answered)  # no half-written change: one event per dossier
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()

    filler.unlink()  # the technician frees space: the desk works again without a restart
    r = clerk.post("/tiep-nhan", data=intake_form(99))
    assert r.status_code == 302
    assert len(saved_codes(db)) == len(answered) + 1


# --- logs ------------------------------------------------------------------------------------

def test_a_logged_traceback_has_id_and_phone_numbers_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactPersonalData())
    logger = logging.getLogger("motcua.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad applicant 001203004567 / 0912345678")
        except ValueError:
            logger.exception("intake of %s failed", "0987654321")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "ValueError: bad applicant [redacted] / [redacted]" in text and "intake of [redacted] failed" in text
    assert not re.search(r"001203004567|0912345678|0987654321", text)


ROTATE = """
import logging, sys
from appshell import logs
logs.configure(sys.argv[1], "node.log")
for i in range(20000):
    logging.getLogger("motcua.node").info("received dossier 000.00.06.H56-260105-%04d via API %s", i, "." * 300)
"""


def test_logs_rotate_by_size_and_keep_five_old_files(tmp_path):
    subprocess.run([sys.executable, "-c", ROTATE, str(tmp_path)], check=True, cwd=ROOT, capture_output=True)
    # ~7 MB written: node.log and 5 older files of at most 1 MB each, the oldest dropped
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["node.log", "node.log.1", "node.log.2", "node.log.3", "node.log.4", "node.log.5"]
    assert all((tmp_path / "logs" / f).stat().st_size <= 1_000_000 for f in files)


def test_a_working_day_leaves_no_citizen_id_phone_or_name_in_the_logs(tmp_path):
    node = Node(tmp_path)
    node.start()
    try:
        people = [("Nguyễn Văn Dũng", "001203004567", "0912345678"), ("Trần Thị Hương", "022186001234", "0987654321")]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {node.token}"
        codes = []
        for name, idn, phone in people:
            r = http.post(node.url + "/api/v1/dossiers", timeout=10, json={
                "procedure_code": "1.001193",
                "applicant": {"name": name, "id_number": idn, "phone": phone, "address": "Thôn Đông", "email": ""},
                "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}]})
            assert r.status_code == 201
            codes.append(r.json()["code"])
        bad = http.post(node.url + "/api/v1/dossiers", timeout=10, json={  # refused: a wrong phone number
            "procedure_code": "1.001193", "applicant": {"name": "Lê Minh Tuấn", "id_number": "031095007788",
                                                       "phone": "0212345678", "address": "x", "email": ""},
            "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}]})
        assert bad.status_code == 422
        clerk = login_remote(node.url)
        for query in ("001203004567", "0912345678", "nguyen van dung", "Trần Thị Hương"):
            assert clerk.get(node.url + "/tim-kiem", params={"q": query}, timeout=10).status_code == 200
        assert clerk.get(f"{node.url}/ho-so/{codes[0]}", timeout=10).status_code == 200
        assert http.get(f"{node.url}/api/v1/dossiers/{codes[1]}", timeout=10).status_code == 200
        citizen = requests.Session()  # the public lookup, through its real form (CSRF token included)
        form = citizen.get(node.url + "/tra-cuu", params={"ma": codes[0]}, timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        r = citizen.post(node.url + "/tra-cuu", data={"ma": codes[0], "so": "5678", "csrf_token": token}, timeout=10)
        assert r.status_code == 200 and codes[0] in r.text
    finally:
        node.stop()
    logged = (node.dir / "logs" / "node.log").read_text(encoding="utf-8")
    logged += (tmp_path / "node.log").read_text(encoding="utf-8", errors="replace")  # the process's own output
    assert f"received dossier {codes[0]}" in logged  # the log works and names dossiers by code
    for private in ("001203004567", "0912345678", "022186001234", "0987654321", "031095007788", "0212345678",
                    "Dũng", "Hương", "Tuấn", "nguyen van dung"):
        assert private not in logged, private


def login_remote(url: str) -> requests.Session:
    from tests.e2e.harness import login as harness_login
    return harness_login(url)
