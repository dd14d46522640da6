"""USB bundles are encrypted to central's key and read defensively (issue 8 point 14).

A real node data folder exports the bundle, a real central data folder imports it with its CLI.
"""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from protocol import keys
from protocol import sync as wire
from protocol.sealedbox import SealedBoxError, open_box, seal_to, x25519_private, x25519_public
from tests.conftest import AGENCY, APPLICANT, receive


@pytest.fixture
def enrolled_node(app, node_dir, central, central_app, conn, clock):
    """The node's data folder enrolled with a real central (key registered, central's key pinned)."""
    from appshell.sqlite import connect
    from node import sync_state
    from tests.central.conftest import add_node
    key = keys.generate()
    keys.save_private(key, node_dir / "node.key")
    code = add_node(conn, clock, AGENCY)
    assert central.post(wire.ENROLL, json={"code": code, "public_key": keys.public_b64(key),
                                           "agency_code": AGENCY}).status_code == 200
    node_conn = connect(app.config["DATABASE"])
    sync_state.put(node_conn, node_id=AGENCY, central_public_key=keys.public_b64(
        central_app.extensions["motcua.central_key"]))
    yield node_conn
    node_conn.close()


def import_cli(central_dir, path):
    from central.cli import main
    return CliRunner().invoke(main, ["import-bundle", "--data", str(central_dir), str(path)])


def test_a_bundle_on_a_usb_stick_reveals_no_citizens_data_and_central_imports_it(
        enrolled_node, ctx, node_dir, central_dir, conn, tmp_path):
    from node.bundle import export_bundle
    code = receive(ctx)["code"]
    path = tmp_path / "usb.motcua"
    assert export_bundle(enrolled_node, node_dir, path) == 1
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert set(doc) == {"kind", "version", "node", "sealed", "first_seq", "last_seq"}
    for secret in (APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["name"], "Nguy"):
        assert secret not in text
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    result = import_cli(central_dir, path)
    assert result.exit_code == 0, result.output
    assert "accepted 1" in result.output
    assert conn.execute("SELECT node FROM dossiers WHERE code = ?", (code,)).fetchone()[0] == AGENCY


def test_a_bundle_tampered_or_sealed_to_another_key_is_refused_and_stores_nothing(
        enrolled_node, ctx, node_dir, central_dir, conn, tmp_path):
    from node.bundle import export_bundle
    receive(ctx)
    path = tmp_path / "usb.motcua"
    export_bundle(enrolled_node, node_dir, path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    other = dict(doc, sealed=seal_to(keys.generate().public_key(), b"{}", aad=AGENCY.encode()))
    (tmp_path / "other.motcua").write_text(json.dumps(other), encoding="utf-8")
    ct = doc["sealed"]["ct"]
    flipped = dict(doc, sealed=dict(doc["sealed"], ct=("B" if ct[0] == "A" else "A") + ct[1:]))
    (tmp_path / "flipped.motcua").write_text(json.dumps(flipped), encoding="utf-8")
    renamed = dict(doc, node="000.00.07.H56")  # the node id is authenticated with the box
    (tmp_path / "renamed.motcua").write_text(json.dumps(renamed), encoding="utf-8")
    for name in ("other", "flipped", "renamed"):
        result = import_cli(central_dir, tmp_path / f"{name}.motcua")
        assert result.exit_code == 1 and "refused: bad_bundle" in result.output, name
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_import_refuses_a_symlink_to_dev_zero_a_fifo_and_a_device_without_reading_them(
        central_dir, conn, clock, tmp_path):
    from central.bundle import import_bundle
    from central.ingest import Caps
    link = tmp_path / "zero.motcua"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "pipe.motcua"
    os.mkfifo(fifo)
    for path in (link, fifo):
        result = import_cli(central_dir, path)
        assert result.exit_code == 1 and "refused: bad_bundle" in result.output, path
    status, reply = import_bundle(conn, "/dev/zero", now=clock.now, caps=Caps())
    assert status == 400 and "not a regular file" in reply["error"]["message"]


def test_import_refuses_a_file_over_the_cap_before_reading_it(central_dir, tmp_path):
    big = tmp_path / "big.motcua"
    with open(big, "wb") as fh:
        fh.truncate(10 * 1024 * 1024 * 1024)  # sparse: 10 GB announced, nothing to read
    result = import_cli(central_dir, big)
    assert result.exit_code == 1 and "refused: too_large" in result.output


def test_centrals_encryption_key_is_derived_from_its_pinned_signing_key():
    for _ in range(5):
        signing = keys.generate()
        derived_public = x25519_public(signing.public_key())
        assert x25519_private(signing).public_key().public_bytes_raw() == derived_public.public_bytes_raw()
        box = seal_to(signing.public_key(), b"citizen data", aad=b"node")
        assert open_box(signing, box, aad=b"node") == b"citizen data"
        with pytest.raises(SealedBoxError):
            open_box(keys.generate(), box, aad=b"node")
