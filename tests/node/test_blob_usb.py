"""The node's side of document custody: blob files for a USB stick, requeue, and rows kept after a rewrite."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node import blob_outbox, blob_restore, sync_state
from node.blobs import BlobStore
from node.bundle import blob_file_names, export_blobs, parse_size
from node.cli import main
from protocol import blobbundle, blobobject, keys
from tests.conftest import AGENCY, receive
from tests.node import document_samples as samples


@pytest.fixture
def enrolled(app, ctx, node_dir):
    """A node with a node key and central's pinned key (as enrolment leaves them) and three documents."""
    from node import documents
    central = Ed25519PrivateKey.generate()
    node_key = keys.generate()
    keys.save_private(node_key, node_dir / "node.key")
    conn = ctx().conn
    sync_state.put(conn, node_id=AGENCY, central_public_key=keys.public_b64(central))
    store = BlobStore(node_dir)
    hashes = []
    with app.app_context():
        for seed in (1, 2, 3):
            code = receive(ctx)["code"]
            hashes.append(documents.attach(ctx(), store, app.config["MOTCUA"], code, 0,
                                           [samples.small_jpeg(seed, size=(1400, 1800))])["hash"])
    return {"conn": conn, "store": store, "central": central, "node_key": node_key, "hashes": hashes}


def _read(path):
    raw = path.read_bytes()
    manifest, start = blobbundle.read_manifest(raw)
    return manifest, raw[start:]


def test_sizes_are_read_in_the_units_a_technician_types_and_nonsense_is_refused():
    assert parse_size("100MB") == 100 * 2**20 and parse_size("1.5GB") == 3 * 2**29
    assert parse_size("700kb") == 700 * 1024 and parse_size("4096") == 4096
    with pytest.raises(ValueError):
        parse_size("a lot")


def test_blob_files_stay_under_the_cap_each_describes_itself_and_together_rebuild_every_object(
        enrolled, node_dir, tmp_path):
    conn, store, central = enrolled["conn"], enrolled["store"], enrolled["central"]
    sizes = {h: blob_outbox.object_size(conn, store, h, central.public_key()) for h in enrolled["hashes"]}
    cap = 64 * 1024 + max(sizes.values()) // 2  # every object is larger than what one file has room for
    files, count, total = export_blobs(conn, node_dir, tmp_path / "xa.motcua", cap)
    assert count == 3 and total == sum(sizes.values())
    assert files == blob_file_names(tmp_path / "xa.motcua", len(files)) and len(files) >= 3
    rebuilt: dict[str, bytearray] = {}
    sets = set()
    for path in reversed(files):
        assert path.stat().st_size <= cap
        manifest, data = _read(path)
        assert manifest["node"] == AGENCY and manifest["parts"] == len(files)
        assert blobbundle.check_signature(manifest, [enrolled["node_key"].public_key()])
        assert not blobbundle.check_signature(manifest, [keys.generate().public_key()])
        sets.add(manifest["set"])
        for p in manifest["pieces"]:
            rebuilt.setdefault(p["hash"], bytearray(p["size"]))[p["offset"]:p["offset"] + p["length"]] = \
                data[p["at"]:p["at"] + p["length"]]
        assert b"JFIF" not in data  # encrypted to central: a lost stick shows no document
    assert len(sets) == 1 and set(rebuilt) == set(enrolled["hashes"])
    for digest, raw in rebuilt.items():
        assert blobobject.open_object(bytes(raw), digest, central) == store.get(digest)
    assert len(blob_outbox.waiting(conn)) == 3  # nothing marked held: central has not imported them yet


def test_export_bundle_writes_the_events_file_and_the_blob_files_and_refuses_a_tiny_cap(enrolled, node_dir, tmp_path):
    target = tmp_path / "xa.motcua"
    tiny = CliRunner().invoke(main, ["export-bundle", "--data", str(node_dir), str(target), "--max-size", "10KB"])
    assert tiny.exit_code == 2 and "--max-size must be at least 1MB" in tiny.output and not target.exists()
    result = CliRunner().invoke(main, ["export-bundle", "--data", str(node_dir), str(target), "--max-size", "1MB"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 document files" in result.output and target.is_file()
    assert (tmp_path / "xa.blobs-01-of-01.motcua").is_file()
    events_only = CliRunner().invoke(main, ["export-bundle", "--data", str(node_dir), str(tmp_path / "e.motcua"),
                                            "--no-blobs"])
    assert events_only.exit_code == 0 and not list(tmp_path.glob("e.blobs-*"))


def test_requeue_puts_held_documents_back_in_the_outbox_by_prefix_or_all(enrolled, node_dir):
    conn, hashes = enrolled["conn"], enrolled["hashes"]
    for digest in hashes:
        blob_outbox.mark_held(conn, digest, "link", "2026-01-05T09:00:00")
    assert blob_outbox.waiting(conn) == []
    one = CliRunner().invoke(main, ["blobs", "requeue", "--data", str(node_dir), hashes[1][:16]])
    assert one.exit_code == 0 and "requeued 1 document files" in one.output
    assert [w["hash"] for w in blob_outbox.waiting(conn)] == [hashes[1]]
    assert blob_outbox.waiting(conn)[0]["acked"] == 0
    bad = CliRunner().invoke(main, ["blobs", "requeue", "--data", str(node_dir), "../etc"])
    assert bad.exit_code != 0 and "not a hash" in bad.output
    nothing = CliRunner().invoke(main, ["blobs", "requeue", "--data", str(node_dir)])
    assert nothing.exit_code != 0 and "--all" in nothing.output
    every = CliRunner().invoke(main, ["blobs", "requeue", "--data", str(node_dir), "--all"])
    assert "requeued 2 document files" in every.output and len(blob_outbox.waiting(conn)) == 3


def test_a_rewritten_log_gets_back_the_rows_of_every_document_file_on_disk(enrolled):
    conn, store, hashes = enrolled["conn"], enrolled["store"], enrolled["hashes"]
    conn.execute("DELETE FROM blobs WHERE hash = ?", (hashes[0],))  # as a restore of an older database leaves it
    conn.execute("DELETE FROM blob_sync WHERE hash IN (?, ?)", (hashes[0], hashes[1]))
    store.path(hashes[2]).unlink()  # and one file that this disk lost
    outcome = blob_restore.reconcile(conn, store)
    assert outcome == {"rows": 1, "queued": 2, "missing": 1}
    assert {w["hash"] for w in blob_outbox.waiting(conn)} == set(hashes)
    row = conn.execute("SELECT size, mime, thumb FROM blobs WHERE hash = ?", (hashes[0],)).fetchone()
    assert row["mime"] == "image/jpeg" and row["size"] == len(store.get(hashes[0])) and row["thumb"]
    assert blob_restore.missing(conn, store).keys() == {hashes[2]}
    assert blob_restore.reconcile(conn, store) == {"rows": 0, "queued": 0, "missing": 1}
