"""The MCT1 object: central opens exactly the blob a node sealed to it, and refuses anything else."""
from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol import blobobject


def _object(data: bytes, central_public):
    digest = hashlib.sha256(data).hexdigest()
    blob_key, nonce = AESGCM.generate_key(256), os.urandom(12)
    part = nonce + AESGCM(blob_key).encrypt(nonce, data, blobobject.aad(digest))
    return digest, blobobject.seal_header(blob_key, digest, central_public) + part


def test_central_opens_a_sealed_object_and_gets_the_plaintext_back():
    central = Ed25519PrivateKey.generate()
    digest, raw = _object(b"scan bytes" * 100, central.public_key())
    assert raw[:4] == b"MCT1" and b"scan bytes" not in raw
    assert blobobject.open_object(raw, digest, central) == b"scan bytes" * 100
    assert blobobject.plaintext_size(len(raw)) == 1000


@pytest.mark.parametrize("damage", ["truncate", "flip", "other_hash", "other_central"])
def test_a_truncated_flipped_misaddressed_or_foreign_object_is_refused(damage):
    central = Ed25519PrivateKey.generate()
    digest, raw = _object(b"x" * 5000, central.public_key())
    key = central
    if damage == "truncate":
        raw = raw[:-100]
    elif damage == "flip":
        raw = raw[:3000] + bytes([raw[3000] ^ 1]) + raw[3001:]
    elif damage == "other_hash":
        digest = hashlib.sha256(b"other").hexdigest()
    else:
        key = Ed25519PrivateKey.generate()
    with pytest.raises(blobobject.BlobObjectError):
        blobobject.verify(raw, digest, key)
