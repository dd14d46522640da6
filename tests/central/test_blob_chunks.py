"""Central's blob lane endpoints (protocol/blobsync.py): ``have`` and raw, signed ``chunk`` uploads.

Real app, real SQLite file and blob folder; the node is tests/central/conftest.FakeNode with its own
key, whose dossier names the blob through an ordinary ``attachment.added`` event pushed first.
"""
from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from central.blobstore import storage_for
from central.store import blobs, nodes
from domain import digitisation
from protocol import blobobject, blobsync, keys
from protocol import sync as wire
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER
from tests.central.conftest import AGENCY, FakeNode, add_node, open_reply


def make_object(data: bytes, central_public) -> tuple[str, bytes]:
    digest = hashlib.sha256(data).hexdigest()
    blob_key, nonce = AESGCM.generate_key(256), os.urandom(12)
    part = nonce + AESGCM(blob_key).encrypt(nonce, data, blobobject.aad(digest))
    return digest, blobobject.seal_header(blob_key, digest, central_public) + part


def attach(node: FakeNode, code: str, digest: str, size: int) -> None:
    from domain.dossier import apply_event
    state = node.states[code]
    data = digitisation.add(state, {"hash": digest, "size": size, "mime": "image/jpeg", "pages": 1},
                            component=0, source="file", at=state["received_at"], by="lan",
                            attachment_id=digest[:16])
    event = node.append("attachment.added", code, data)
    node.states[code] = apply_event(state, event)


def send(central, node: FakeNode, clock, digest: str, raw: bytes, offset: int, length: int | None = None, *,
         body: bytes | None = None, key=None, nonce: str | None = None, **meta_over):
    data = raw[offset:offset + (len(raw) - offset if length is None else length)]
    meta = {"node": node.agency, "nonce": nonce or wire.nonce(), "sent_at": clock.now.isoformat(),
            **blobsync.chunk_meta(digest=digest, size=len(raw), offset=offset, data=data), **meta_over}
    header = blobsync.encode_meta(meta)
    return central.post(blobsync.CHUNK, data=data if body is None else body, headers={
        NODE_HEADER: node.agency, SIGNATURE_HEADER: keys.sign(key or node.key, header),
        blobsync.CHUNK_HEADER: header.decode("ascii"), "Content-Type": "application/octet-stream"})


def have(central, node: FakeNode, hashes, backlog=None):
    payload = node.payload(hashes=hashes, backlog=backlog or {"files": len(hashes), "bytes": 0, "oldest_at": None})
    return node.post(central, blobsync.HAVE, payload)


@pytest.fixture
def blob(central, central_app, node, clock):
    """A 40 kB page the node's dossier names, as the MCT1 object central receives."""
    digest, raw = make_object(os.urandom(40_000), central_app.extensions["motcua.central_key"].public_key())
    code = node.receive()
    attach(node, code, digest, 40_000)
    assert node.push(central).status_code == 200
    return digest, raw


def test_a_blob_sent_in_chunks_is_held_only_once_its_last_chunk_arrives_and_verifies(central, central_app, conn,
                                                                                    node, clock, blob):
    digest, raw = blob
    storage = storage_for(central_app.config["DATA_DIR"])
    r = send(central, node, clock, digest, raw, 0, 16_000)
    assert r.status_code == 200 and open_reply(central_app, r)["received"] == 16_000
    assert open_reply(central_app, r)["held"] is False and blobs.held(conn, [digest]) == set()
    reply = open_reply(central_app, have(central, node, [digest]))
    assert reply["held"] == [] and reply["received"] == {digest: 16_000}  # where the upload resumes
    r = send(central, node, clock, digest, raw, 16_000)
    reply = open_reply(central_app, r)
    assert r.status_code == 200 and reply["held"] is True and reply["received"] == len(raw)
    assert blobs.held(conn, [digest]) == {digest} and storage.read(digest) == raw
    assert [tuple(row) for row in conn.execute("SELECT node, source, size FROM blobs")] == [(AGENCY, "link", len(raw))]
    assert blobs.uploads(conn) == [] and list(storage.staging_ids()) == []
    reply = open_reply(central_app, have(central, node, [digest, "0" * 64]))
    assert reply["held"] == [digest] and reply["received"] == {}


def test_have_records_the_backlog_the_node_reports_for_central_s_pages(central, central_app, conn, node, clock):
    r = have(central, node, [], {"files": 3, "bytes": 654_321, "oldest_at": "2026-01-05T08:15:00"})
    assert r.status_code == 200
    assert blobs.backlog(conn)[AGENCY] == {"files": 3, "bytes": 654_321, "oldest_at": "2026-01-05T08:15:00",
                                           "reported_at": clock.now.isoformat()}


def test_have_refuses_more_than_500_hashes_or_anything_but_hex_digests(central, central_app, node):
    r = have(central, node, ["a" * 64] * 501)
    assert r.status_code == 400 and open_reply(central_app, r)["error"]["code"] == "bad_payload"
    r = have(central, node, ["not a hash"])
    assert r.status_code == 400 and open_reply(central_app, r)["error"]["code"] == "bad_payload"


def test_a_chunk_at_another_offset_than_central_staged_is_refused_with_the_offset_to_resume_at(
        central, central_app, conn, node, clock, blob):
    digest, raw = blob
    assert send(central, node, clock, digest, raw, 0, 10_000).status_code == 200
    for offset in (0, 20_000):  # sent again, or ahead of what central has
        r = send(central, node, clock, digest, raw, offset, 5_000)
        reply = open_reply(central_app, r)
        assert r.status_code == 409 and reply["error"]["code"] == "offset" and reply["received"] == 10_000
    assert storage_for(central_app.config["DATA_DIR"]).staged_size(blobs.upload_id(AGENCY, digest)) == 10_000


def test_a_chunk_whose_body_differs_from_its_signed_length_or_hash_is_refused_and_nothing_is_staged(
        central, central_app, node, clock, blob):
    digest, raw = blob
    storage = storage_for(central_app.config["DATA_DIR"])
    flipped = bytes([raw[0] ^ 1]) + raw[1:10_000]
    for body in (flipped, raw[:9_999]):
        r = send(central, node, clock, digest, raw, 0, 10_000, body=body)
        assert r.status_code == 400 and open_reply(central_app, r)["error"]["code"] == "bad_chunk"
    assert storage.staged_size(blobs.upload_id(AGENCY, digest)) == 0


def test_a_replayed_chunk_request_is_refused(central, central_app, node, clock, blob):
    digest, raw = blob
    assert send(central, node, clock, digest, raw, 0, 10_000, nonce="n" * 32).status_code == 200
    r = send(central, node, clock, digest, raw, 0, 10_000, nonce="n" * 32)
    assert r.status_code == 409 and open_reply(central_app, r)["error"]["code"] == "replayed"


def test_a_request_stamped_hours_away_from_now_is_refused_as_stale(central, central_app, node, clock, blob):
    digest, raw = blob
    r = send(central, node, clock, digest, raw, 0, 10_000, sent_at="2025-12-01T09:00:00")
    assert r.status_code == 409 and open_reply(central_app, r)["error"]["code"] == "stale"


def test_a_chunk_signed_by_another_key_or_from_an_unknown_or_revoked_node_is_refused(
        central, central_app, conn, node, clock, blob):
    digest, raw = blob
    r = send(central, node, clock, digest, raw, 0, 10_000, key=keys.generate())
    assert r.status_code == 401 and open_reply(central_app, r)["error"]["code"] == "bad_signature"
    stranger = FakeNode(clock, agency="000.00.06.H99")
    r = send(central, stranger, clock, digest, raw, 0, 10_000)
    assert r.status_code == 403 and open_reply(central_app, r)["error"]["code"] == "unknown_node"
    nodes.revoke(conn, AGENCY, now=clock.now)
    r = send(central, node, clock, digest, raw, 0, 10_000)
    assert r.status_code == 403 and open_reply(central_app, r)["error"]["code"] == "revoked"
    assert blobs.uploads(conn) == []


def test_a_blob_over_central_s_size_cap_is_refused_before_anything_is_staged(central, central_app, conn, node,
                                                                             clock, blob):
    digest, raw = blob
    central_app.config["MOTCUA"]["max_blob_bytes"] = 30_000
    r = send(central, node, clock, digest, raw, 0, 10_000)
    assert r.status_code == 413 and open_reply(central_app, r)["error"]["code"] == "too_large"
    assert blobs.uploads(conn) == []


def test_a_node_may_upload_only_blobs_its_own_dossiers_name(central, central_app, conn, node, clock, blob):
    digest, raw = make_object(b"someone else's card" * 100, central_app.extensions["motcua.central_key"].public_key())
    r = send(central, node, clock, digest, raw, 0)
    assert r.status_code == 403 and open_reply(central_app, r)["error"]["code"] == "not_referenced"
    other = FakeNode(clock, agency="000.00.06.H57")
    assert other.enrol(central, add_node(conn, clock, agency="000.00.06.H57")).status_code == 200
    own_digest, own_raw = blob
    r = send(central, other, clock, own_digest, own_raw, 0)  # named by the first node's dossier, not this one's
    assert r.status_code == 403 and open_reply(central_app, r)["error"]["code"] == "not_referenced"
    assert blobs.held(conn, [digest, own_digest]) == set() and blobs.uploads(conn) == []


def test_a_corrupt_object_is_dropped_at_its_last_chunk_and_stored_only_when_sent_again_sound(
        central, central_app, conn, node, clock):
    key = central_app.extensions["motcua.central_key"]
    digest, raw = make_object(os.urandom(20_000), key.public_key())
    code = node.receive()
    attach(node, code, digest, 20_000)
    assert node.push(central).status_code == 200
    damaged = raw[:-100] + bytes([raw[-100] ^ 1]) + raw[-99:]  # damaged at the node, signed as it is
    assert send(central, node, clock, digest, damaged, 0, 10_000).status_code == 200
    r = send(central, node, clock, digest, damaged, 10_000)
    reply = open_reply(central_app, r)
    assert r.status_code == 422 and reply["error"]["code"] == "bad_blob" and reply["received"] == 0
    storage = storage_for(central_app.config["DATA_DIR"])
    assert blobs.held(conn, [digest]) == set() and not storage.has(digest) and blobs.uploads(conn) == []
    assert send(central, node, clock, digest, raw, 0).status_code == 200
    assert blobs.held(conn, [digest]) == {digest} and storage.read(digest) == raw


def test_a_chunk_for_a_blob_central_already_holds_is_answered_held_without_storing_again(
        central, central_app, conn, node, clock, blob):
    digest, raw = blob
    assert open_reply(central_app, send(central, node, clock, digest, raw, 0))["held"] is True
    r = send(central, node, clock, digest, raw, 0, 1_000)
    assert r.status_code == 200 and open_reply(central_app, r)["held"] is True
    assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1


def test_a_malformed_chunk_header_is_refused(central, central_app, node, clock, blob):
    digest, raw = blob
    r = send(central, node, clock, digest, raw, 0, 1_000, size=500)  # a chunk running past the object
    assert r.status_code == 400 and open_reply(central_app, r)["error"]["code"] == "bad_chunk"
    r = central.post(blobsync.CHUNK, data=b"x", headers={NODE_HEADER: AGENCY})
    assert r.status_code in (400, 401) and "error" in open_reply(central_app, r)


def test_central_s_node_pages_show_the_files_and_bytes_each_node_still_has_to_send(web_app, db, admin, clock):
    add_node(db, clock)
    blobs.report_backlog(db, AGENCY, 4, 3_450_000, "2026-01-05T08:15:00", clock.now)
    listing = admin.get("/don-vi").get_data(as_text=True)
    row = listing[listing.index(f'data-node="{AGENCY}"'):].split("</tr>")[0]
    assert "4 tệp · 3,5 MB" in row and "cũ nhất 08:15 05/01/2026" in row
    page = admin.get(f"/don-vi/{AGENCY}").get_data(as_text=True)
    shown = page[page.index('id="blob-backlog"'):].split("</dd>")[0]
    assert "4 tệp, 3,5 MB; tệp cũ nhất chưa gửi từ 08:15 05/01/2026" in shown
    blobs.report_backlog(db, AGENCY, 0, 0, None, clock.now)
    page = admin.get(f"/don-vi/{AGENCY}").get_data(as_text=True)
    assert "0 tệp, 0 MB" in page[page.index('id="blob-backlog"'):].split("</dd>")[0]


def test_have_never_tells_a_node_that_central_holds_a_blob_none_of_its_dossiers_name(central, central_app, conn,
                                                                                     node, clock, blob):
    digest = hashlib.sha256(b"another commune's card").hexdigest()
    blobs.record_stored(conn, digest=digest, size=10, node="000.00.06.H99", source="usb", now=clock())
    named, raw = blob
    blobs.record_stored(conn, digest=named, size=len(raw), node="000.00.06.H99", source="usb", now=clock())
    reply = have(central, node, [digest, named])
    assert reply.status_code == 200 and open_reply(central_app, reply)["held"] == [named]
