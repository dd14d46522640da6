"""Encrypting a file to central's key (USB bundles): ephemeral X25519 + HKDF-SHA256 + AES-256-GCM.

Central's only key is Ed25519 (it signs every reply; nodes pin it at enrolment). Its X25519
encryption key is *derived* from that key by the standard birational map (the conversion
libsodium offers as crypto_sign_ed25519_pk_to_curve25519 / _sk_to_curve25519):
- public: u = (1 + y) / (1 - y) mod 2^255 - 19, where y is the Edwards point of the key;
- private: the first 32 bytes of SHA-512(seed), the same scalar Ed25519 signs with.
So every node already enrolled holds central's encryption key (its pinned signing key): no new
key to publish, no migration for old nodes, and nothing new for central to keep secret.

A sealed box: the sender makes a fresh X25519 key pair, derives the AES key from the shared
secret with HKDF (info binds both public keys), and encrypts with AES-GCM; the ``aad`` (e.g.
the node id) is authenticated but not secret. Only central's private key opens it.
"""
from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

P = 2 ** 255 - 19
INFO = b"motcua sealed box v1"
RAW = serialization.Encoding.Raw


class SealedBoxError(ValueError):
    """A box that cannot be opened (wrong key, tampered, malformed); English message."""


def x25519_public(ed_public: Ed25519PublicKey) -> X25519PublicKey:
    raw = ed_public.public_bytes(RAW, serialization.PublicFormat.Raw)
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= P or (1 - y) % P == 0:
        raise SealedBoxError("public key is not a usable Edwards point")
    u = (1 + y) * pow((1 - y) % P, P - 2, P) % P
    return X25519PublicKey.from_public_bytes(u.to_bytes(32, "little"))


def x25519_private(ed_private: Ed25519PrivateKey) -> X25519PrivateKey:
    seed = ed_private.private_bytes(RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return X25519PrivateKey.from_private_bytes(hashlib.sha512(seed).digest()[:32])


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO + ephemeral + recipient).derive(shared)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal_to(recipient: Ed25519PublicKey, plaintext: bytes, aad: bytes = b"") -> dict:
    """Encrypt ``plaintext`` so that only the holder of ``recipient``'s private key can read it."""
    target = x25519_public(recipient)
    target_raw = target.public_bytes(RAW, serialization.PublicFormat.Raw)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    key = _key(ephemeral.exchange(target), ephemeral_raw, target_raw)
    nonce = os.urandom(12)
    return {"alg": "X25519-HKDF-SHA256-AES256GCM", "epk": _b64(ephemeral_raw), "nonce": _b64(nonce),
            "ct": _b64(AESGCM(key).encrypt(nonce, plaintext, aad))}


def open_box(private: Ed25519PrivateKey, box: dict, aad: bytes = b"") -> bytes:
    """The plaintext of a box sealed to ``private``'s public key; raises SealedBoxError."""
    if not isinstance(box, dict) or box.get("alg") != "X25519-HKDF-SHA256-AES256GCM":
        raise SealedBoxError("not a sealed box of a known kind")
    try:
        ephemeral_raw = base64.b64decode(box["epk"], validate=True)
        nonce = base64.b64decode(box["nonce"], validate=True)
        ciphertext = base64.b64decode(box["ct"], validate=True)
        ephemeral = X25519PublicKey.from_public_bytes(ephemeral_raw)
    except (KeyError, TypeError, ValueError):
        raise SealedBoxError("sealed box fields are malformed") from None
    if len(nonce) != 12:
        raise SealedBoxError("sealed box nonce is malformed")
    mine = x25519_private(private)
    mine_raw = mine.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    try:
        key = _key(mine.exchange(ephemeral), ephemeral_raw, mine_raw)
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise SealedBoxError("sealed box does not open with this key (wrong recipient or tampered)") from None
