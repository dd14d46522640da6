"""Documents on a real node process: SIGKILL during uploads, backup and restore into a fresh folder."""
from __future__ import annotations

import json
import random
import threading

import pytest
import requests

from node.blobs import BlobStore
from tests.conftest import wait_until
from tests.e2e.harness import Node, cli
from tests.node import document_samples as samples


def _upload(node: Node, code: str, data: bytes, name: str = "scan.jpg", component: str = "0"):
    return requests.post(f"{node.url}/api/v1/dossiers/{code}/attachments",
                         headers={"Authorization": f"Bearer {node.token}"},
                         data={"component": component}, files={"file": (name, data)}, timeout=60)


def _event_hashes(node: Node) -> list[str]:
    conn = node.db()
    try:
        return [json.loads(r["body"])["data"]["attachment"]["hash"]
                for r in conn.execute("SELECT body FROM events WHERE type = 'attachment.added' ORDER BY seq")]
    finally:
        conn.close()


def _known(node: Node) -> set[str]:
    conn = node.db()
    try:
        out = set()
        for r in conn.execute("SELECT hash, thumb FROM blobs"):
            out |= {r["hash"], r["thumb"]} - {None}
        return out
    finally:
        conn.close()


@pytest.mark.slow  # a crash test: 50 uploads, SIGKILLs
def test_sigkill_during_50_uploads_leaves_no_event_without_its_blob_and_clean_up_leaves_no_orphan(tmp_path):
    node = Node(tmp_path).start()
    code = node.intake(1)[0]
    pages = [samples.small_jpeg(seed, size=(1400, 1900)) for seed in range(50)]  # 50 different pages
    answered, errors = [], []

    def desk():
        for page in pages:
            try:
                r = _upload(node, code, page)
            except requests.RequestException:
                return  # the node died under us
            (answered if r.status_code == 201 else errors).append(r.status_code)

    thread = threading.Thread(target=desk)
    thread.start()
    wait_until(lambda: len(answered) >= random.randint(8, 20), timeout=120, message="some uploads answered")
    node.server.kill()
    thread.join(60)
    assert not errors
    assert 8 <= len(answered) < 50  # killed in the middle of the run

    blobs = BlobStore(node.dir, create_key=False)
    hashes = _event_hashes(node)
    assert len(hashes) >= len(answered)  # every answered upload has its event
    for digest in hashes:  # and every event's blob is there and verifies
        assert blobs.verify(digest) is None
    assert set(hashes) <= _known(node)

    cli("node.cli", "blobs", "clean", "--data", node.dir, "--min-age", "0")
    on_disk = set(blobs.hashes_on_disk())
    assert on_disk == _known(node)  # no orphan left, nothing named lost
    assert not list((node.dir / "blobs" / "tmp").glob("*"))
    assert cli("node.cli", "blobs", "check", "--data", node.dir).returncode == 0

    node.start()  # and the node carries on
    assert _upload(node, code, samples.small_jpeg(99)).status_code == 201
    node.stop()


def test_backup_and_restore_into_a_fresh_folder_brings_every_blob_back_verified(tmp_path):
    node = Node(tmp_path).start()
    codes = node.intake(3)
    sent = {}
    for i, code in enumerate(codes):
        for j in range(2):
            r = _upload(node, code, samples.small_jpeg(10 * i + j))
            assert r.status_code == 201, r.text
            sent[r.json()["id"]] = (code, r.json()["hash"])
    originals = {aid: requests.get(f"{node.url}/api/v1/dossiers/{code}/attachments/{aid}",
                                   headers={"Authorization": f"Bearer {node.token}"}, timeout=30).content
                 for aid, (code, _h) in sent.items()}
    node.stop()
    usb, stick = tmp_path / "usb", tmp_path / "stick"
    usb.mkdir(), stick.mkdir()
    out = cli("node.cli", "backup", "--data", node.dir, "--to", usb).stdout
    backup_file = out.split()[3]
    key_hex = (node.dir / "blobs.key").read_text().strip()
    for f in usb.rglob("*"):  # the backup carries the blobs, encrypted, and never the key
        if f.is_file():
            raw = f.read_bytes()
            assert key_hex.encode() not in raw and bytes.fromhex(key_hex) not in raw
            assert not raw.startswith(b"\xff\xd8")
    assert len(list((usb / "blobs").rglob("*/*"))) >= len(sent)
    cli("node.cli", "blobs", "export-key", "--data", node.dir, "--to", stick / "motcua-blob.key")

    fresh = Node(tmp_path, name="fresh")
    refused = cli("node.cli", "restore", "--data", fresh.dir, backup_file, check=False)
    assert refused.returncode == 1 and "--blob-key" in refused.stderr
    assert not (fresh.dir / "blobs.key").exists()  # the refusal left no key behind
    restored = cli("node.cli", "restore", "--data", fresh.dir, backup_file, "--blob-key", stick / "motcua-blob.key")
    assert f"{len(sent) + len(sent)} document blobs verified" in restored.stdout  # pages and their thumbnails
    fresh.start()
    token = cli("node.cli", "token", "create", "--data", fresh.dir, "lan").stdout.strip()
    for aid, (code, _digest) in sent.items():
        r = requests.get(f"{fresh.url}/api/v1/dossiers/{code}/attachments/{aid}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200 and r.content == originals[aid]
    fresh.stop()
    doctor = cli("node.cli", "doctor", "--data", fresh.dir, "--json", check=False).stdout
    blobs_check = next(c for c in json.loads(doctor)["checks"] if c["name"] == "blobs")
    assert blobs_check["status"] == "ok"


def test_the_doctor_fails_a_blob_that_no_longer_matches_its_hash(tmp_path):
    node = Node(tmp_path).start()
    code = node.intake(1)[0]
    digest = _upload(node, code, samples.small_jpeg(5)).json()["hash"]
    node.stop()
    path = BlobStore(node.dir).path(digest)
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF
    path.write_bytes(bytes(raw))
    doctor = cli("node.cli", "doctor", "--data", node.dir, "--json", check=False)
    blobs_check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "blobs")
    assert blobs_check["status"] == "FAIL" and digest[:12] in blobs_check["message"]
