"""Central's filesystem blob storage: content-addressed, atomic, resumable staging."""
from __future__ import annotations

import hashlib

import pytest

from central.blobstore import FileStorage, StorageError


def test_an_object_is_stored_under_its_hash_prefix_and_listed(tmp_path):
    store = FileStorage(tmp_path / "blobs")
    digest = hashlib.sha256(b"a").hexdigest()
    assert not store.has(digest) and store.size(digest) is None
    store.put(digest, b"object")
    assert (tmp_path / "blobs" / digest[:2] / digest).read_bytes() == b"object"
    assert store.has(digest) and store.size(digest) == 6 and list(store.digests()) == [digest]
    assert not list((tmp_path / "blobs" / "tmp").iterdir())


def test_staging_appends_only_at_the_staged_offset_and_finishes_atomically(tmp_path):
    store = FileStorage(tmp_path / "blobs")
    digest = hashlib.sha256(b"b").hexdigest()
    assert store.staged_size("u1") == 0
    assert store.append("u1", 0, b"hello ") == 6
    with pytest.raises(StorageError, match="6 bytes are staged"):
        store.append("u1", 3, b"again")
    assert store.append("u1", 6, b"world") == 11
    assert store.staged("u1") == b"hello world" and list(store.staging_ids()) == ["u1"]
    store.finish("u1", digest)
    assert store.read(digest) == b"hello world" and store.staged_size("u1") == 0


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", "x" * 200])
def test_a_hostile_upload_id_or_hash_never_becomes_a_path(tmp_path, name):
    store = FileStorage(tmp_path / "blobs")
    with pytest.raises(StorageError):
        store.append(name, 0, b"x")
    with pytest.raises(StorageError):
        store.has(name)
