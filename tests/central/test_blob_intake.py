"""central.blob_intake: an object becomes held only when it opens with central's key and matches its hash."""
from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from central.blob_intake import BlobRefused, accept_object, finish_staged
from central.blobstore import storage_for
from central.store import blobs
from protocol import blobobject


def _object(data: bytes, central_public):
    digest = hashlib.sha256(data).hexdigest()
    blob_key, nonce = AESGCM.generate_key(256), os.urandom(12)
    part = nonce + AESGCM(blob_key).encrypt(nonce, data, blobobject.aad(digest))
    return digest, blobobject.seal_header(blob_key, digest, central_public) + part


@pytest.fixture
def parts(central_app, conn, clock):
    key = central_app.extensions["motcua.central_key"]
    return conn, storage_for(central_app.config["DATA_DIR"]), key, clock()


def test_a_sound_object_is_stored_and_held_once_and_a_second_delivery_is_no_news(parts):
    conn, storage, key, now = parts
    digest, raw = _object(b"page" * 1000, key.public_key())
    assert accept_object(conn, storage, key, digest=digest, raw=raw, node="000.00.06.H56", source="usb", now=now)
    assert blobs.held(conn, [digest, "0" * 64]) == {digest} and storage.read(digest) == raw
    assert not accept_object(conn, storage, key, digest=digest, raw=raw, node="000.00.06.H57", source="link", now=now)
    assert [tuple(r) for r in conn.execute("SELECT node, source FROM blobs")] == [("000.00.06.H56", "usb")]


def test_a_corrupt_staged_upload_is_dropped_and_nothing_is_stored(parts):
    conn, storage, key, now = parts
    digest, raw = _object(b"card" * 1000, key.public_key())
    up = blobs.start_upload(conn, "000.00.06.H56", digest, len(raw), now)
    storage.append(up["upload_id"], 0, raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(BlobRefused) as refused:
        finish_staged(conn, storage, key, upload_id=up["upload_id"], digest=digest, node="000.00.06.H56", now=now)
    assert refused.value.code == "bad_blob"
    assert not storage.has(digest) and storage.staged_size(up["upload_id"]) == 0
    assert blobs.held(conn, [digest]) == set() and blobs.upload(conn, "000.00.06.H56", digest) is None


def test_an_object_sealed_to_another_key_or_under_a_bad_address_is_refused(parts):
    conn, storage, key, now = parts
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    digest, raw = _object(b"x" * 100, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(BlobRefused):
        accept_object(conn, storage, key, digest=digest, raw=raw, node="n", source="usb", now=now)
    with pytest.raises(BlobRefused) as bad:
        accept_object(conn, storage, key, digest="../../etc", raw=raw, node="n", source="usb", now=now)
    assert bad.value.code == "bad_hash" and list(storage.digests()) == []
