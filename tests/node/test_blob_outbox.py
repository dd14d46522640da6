"""The node's blob outbox: every stored document is queued in its own transaction, and the object it
sends is one central opens, byte-identical however it is read."""
from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node import blob_outbox
from node.blobs import BlobStore
from protocol import blobobject
from tests.conftest import receive
from tests.node import document_samples as samples


def test_an_attached_scan_is_queued_and_its_object_opens_with_centrals_key_in_any_slicing(app, ctx, node_dir):
    from node import documents
    code = receive(ctx)["code"]
    store = BlobStore(node_dir)
    with app.app_context():
        attachment = documents.attach(ctx(), store, app.config["MOTCUA"], code, 0, [samples.small_jpeg(1)])
    conn = ctx().conn
    digest = attachment["hash"]
    assert [w["hash"] for w in blob_outbox.waiting(conn)] == [digest]
    central = Ed25519PrivateKey.generate()
    whole = blob_outbox.read_object(conn, store, digest, central.public_key())
    assert blobobject.open_object(whole, digest, central) == store.get(digest)
    assert blob_outbox.read_object(conn, store, digest, central.public_key()) == whole  # header kept, not re-sealed
    pieces = [blob_outbox.read_object(conn, store, digest, central.public_key(), off, 37)
              for off in range(0, len(whole), 37)]
    assert b"".join(pieces) == whole
    assert blob_outbox.object_size(conn, store, digest, central.public_key()) == len(whole)
    backlog = blob_outbox.backlog(conn)
    assert (backlog.files, backlog.bytes) == (1, len(whole))
    assert blob_outbox.mark_held(conn, digest, "dedup", "2026-12-04T10:00:00+07:00")
    assert not blob_outbox.mark_held(conn, digest, "link", "2026-12-04T10:00:00+07:00")
    assert blob_outbox.waiting(conn) == [] and blob_outbox.backlog(conn).files == 0
