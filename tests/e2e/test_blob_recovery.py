"""Document files across processes: carried on a USB stick, fetched back by a rebuilt node, kept by `recover`."""
from __future__ import annotations

import hashlib
import shutil
import sqlite3

import pytest
import requests

from tests.conftest import wait_until
from tests.e2e.harness import Central, Node, cli, login
from tests.node import document_samples as samples

pytestmark = [pytest.mark.usefixtures("e2e_central_database")]
AGENCY = "000.00.06.H56"


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    code = central.add_node(AGENCY)
    central.start()
    node.enroll(central.url, code)
    yield central, node
    node.stop()
    central.stop()


def attach(node: Node, code: str, data: bytes) -> dict:
    name = "a.pdf" if data.startswith(b"%PDF") else "a.jpg"
    r = requests.post(f"{node.url}/api/v1/dossiers/{code}/attachments",
                      headers={"Authorization": f"Bearer {node.token}"},
                      data={"component": "0"}, files={"file": (name, data)}, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def synced(central, node):
    return lambda: central.events(AGENCY) == node.events()


def carry_by_usb(central: Central, node: Node, stick) -> str:
    """export-bundle on the node; at central every file of the stick, the blob files (in reverse order)
    before the events file that names their documents."""
    out = cli("node.cli", "export-bundle", "--data", node.dir, stick / "xa.motcua", "--max-size", "1MB").stdout
    files = sorted(stick.glob("xa.blobs-*.motcua"), reverse=True) + [stick / "xa.motcua"]
    assert files[-1].is_file(), out
    return cli("central.cli", "import-bundle", "--data", central.dir, *files).stdout


def held_at_central(central: Central) -> set[str]:
    conn = central.db()
    try:
        return {r[0] for r in conn.execute("SELECT hash FROM blobs")}
    finally:
        conn.close()


def test_a_usb_stick_carries_the_document_files_and_central_verifies_and_lists_them_as_held(world, tmp_path):
    central, node = world
    central.stop()  # no network at all: the events and the files travel on the stick
    node.start()
    first, second = node.intake(2)
    a = attach(node, first, samples.small_jpeg(1))
    b = attach(node, second, samples.small_jpeg(2))
    stick = tmp_path / "stick"
    stick.mkdir()
    out = carry_by_usb(central, node, stick)  # the event file and the blob files, in reverse order
    assert "accepted 4, duplicates 0" in out
    assert "document files: 2 stored, 0 already held, 0 problem(s)" in out
    assert len(list(stick.glob("xa.blobs-*.motcua"))) == 1
    central.start()
    for path in stick.glob("*.blobs-*"):
        assert b"JFIF" not in path.read_bytes() and b"Nguy" not in path.read_bytes()  # a lost stick shows nothing
    again = cli("central.cli", "import-bundle", "--data", central.dir, *stick.glob("xa*.motcua")).stdout
    assert "document files: 0 stored, 2 already held" in again
    assert held_at_central(central) == {a["hash"], b["hash"]}
    check = cli("central.cli", "blobs", "check", "--data", central.dir)
    assert "2 of 2 held document files verified; 0 missing, 0 damaged" in check.stdout
    session = login(central.url, "admin", "Admin-pass-2026")
    page = session.get(f"{central.url}/ho-so/{first}").text
    assert "Đã nhận tệp" in page[page.index('id="central-documents"'):]


def test_a_node_rebuilt_after_its_disk_died_gets_its_documents_back_on_first_view_and_in_the_background(
        world, tmp_path):
    central, node = world
    node.start()
    first, second, third = node.intake(3)
    a = attach(node, first, samples.small_jpeg(1))
    b = attach(node, second, samples.small_jpeg(2))
    c = attach(node, third, samples.simple_pdf(2))
    wait_until(synced(central, node), 30, message="events at central")
    node.stop()
    stick = tmp_path / "stick"
    stick.mkdir()
    carry_by_usb(central, node, stick)  # (or the link lane) before the disk died
    assert held_at_central(central) == {a["hash"], b["hash"], c["hash"]}
    shutil.rmtree(node.dir)  # the disk died

    fresh = Node(tmp_path, AGENCY)
    out = fresh.enroll(central.url, central.recovery_code(AGENCY)).stdout
    assert "motcua-node blobs restore" in out
    assert not any((fresh.dir / "blobs").rglob(a["hash"]))
    fresh.start()
    clerk = login(fresh.url)
    assert clerk.get(f"{fresh.url}/ho-so/{first}/tai-lieu/{a['id']}/anh-nho", timeout=30).status_code == 404
    viewed = clerk.get(f"{fresh.url}/ho-so/{first}/tai-lieu/{a['id']}", timeout=60)
    assert viewed.status_code == 200 and viewed.headers["Cache-Control"] == "no-store"
    assert hashlib.sha256(viewed.content).hexdigest() == a["hash"]  # fetched from central, checked, stored
    thumb = clerk.get(f"{fresh.url}/ho-so/{first}/tai-lieu/{a['id']}/anh-nho", timeout=30)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"  # made again from the restored scan

    central.stop()  # the link is down: the clerk reads why, in Vietnamese
    offline = clerk.get(f"{fresh.url}/ho-so/{second}/tai-lieu/{b['id']}", timeout=60)
    assert offline.status_code == 503 and "không kết nối được cấp trên" in offline.text
    central.start()
    from node.blob_restore import RestoreWorker
    from node.settings import load_settings
    worker_round = RestoreWorker(fresh.dir, load_settings(fresh.dir), per_round=1).round()  # a running node's loop
    assert worker_round.restored == 1 and worker_round.left == 1 and worker_round.problems == []
    background = cli("node.cli", "blobs", "restore", "--data", fresh.dir).stdout
    assert "restored 1 document files; 0 still missing" in background
    conn = fresh.db()
    try:
        assert {tuple(r) for r in conn.execute("SELECT hash, state, via FROM blob_sync")} == \
            {(h, "held", "restore") for h in (a["hash"], b["hash"], c["hash"])}  # never sent back up
    finally:
        conn.close()
    pdf = clerk.get(f"{fresh.url}/ho-so/{third}/tai-lieu/{c['id']}", timeout=30)
    assert pdf.status_code == 200 and hashlib.sha256(pdf.content).hexdigest() == c["hash"]
    assert cli("node.cli", "blobs", "check", "--data", fresh.dir).returncode == 0
    fresh.stop()


def test_recover_after_a_fork_keeps_every_document_file_and_its_outbox_row_and_all_still_reach_central(
        world, tmp_path):
    central, node = world
    node.start()
    first, second = node.intake(2)
    a = attach(node, first, samples.small_jpeg(1))
    wait_until(synced(central, node), 30, message="first sync")
    node.stop()
    backup = tmp_path / "old.db"
    src, dst = sqlite3.connect(node.dir / "motcua-node.db"), sqlite3.connect(backup)
    src.backup(dst)
    src.close(), dst.close()
    node.start()
    b = attach(node, second, samples.small_jpeg(2))  # synced, then the database is restored from the old backup
    wait_until(synced(central, node), 30, message="second sync")
    node.stop()
    for suffix in ("", "-wal", "-shm"):
        (node.dir / f"motcua-node.db{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, node.dir / "motcua-node.db")
    node.start()
    c = attach(node, first, samples.small_jpeg(3))  # written after the restore: a fork
    wait_until(lambda: node.sync_value("last_error_kind") == "fork", 30, message="fork detected")
    node.stop()
    out = cli("node.cli", "recover", "--data", node.dir).stdout
    assert "adopted 1 events" in out and "re-applied 1 local events" in out
    assert "document files: 1 rows rebuilt, 1 queued for central, 0 not on this disk" in out
    conn = node.db()
    try:
        rows = {r[0] for r in conn.execute("SELECT hash FROM blobs")}
        outbox = {r[0]: r[1] for r in conn.execute("SELECT hash, state FROM blob_sync")}
    finally:
        conn.close()
    assert {a["hash"], b["hash"], c["hash"]} <= rows and set(outbox) == {a["hash"], b["hash"], c["hash"]}
    assert outbox[b["hash"]] == "queued"  # the old database never knew b: queued again, sent unless central has it
    for h in (a["hash"], b["hash"], c["hash"]):
        assert (node.dir / "blobs" / h[:2] / h).is_file()
    cli("node.cli", "sync", "--data", node.dir, "--once")
    assert central.events(AGENCY) == node.events()
    stick = tmp_path / "stick"
    stick.mkdir()
    out = carry_by_usb(central, node, stick)
    assert "0 problem(s)" in out
    assert held_at_central(central) == {a["hash"], b["hash"], c["hash"]}
    assert cli("central.cli", "blobs", "check", "--data", central.dir).returncode == 0
