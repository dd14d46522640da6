"""The form in which one document blob crosses the link and rests at central (issue 11).

A node keeps each blob encrypted under that blob's own random AES-256-GCM key, the key wrapped under
the node's data key (node/blobs.py, format MCB1). To send a blob, the node seals that one blob key to
central's key (protocol.sealedbox: X25519 derived from central's pinned Ed25519 key) and sends the very
ciphertext on its disk behind that sealed key. Central stores the object exactly as received: an
observer of the link, or of central's disk, sees no ID card; central's private key opens this one blob
and nothing else of the node's.

Layout (version 1), 96 bytes of header, then the node's data part:
    b"MCT1" | ephemeral X25519 public key (32) | box nonce (12) |
    sealed blob key: AES-256-GCM(box key, box nonce, blob key, aad) (32 + 16 tag) |
    data nonce (12) | AES-256-GCM(blob key, data nonce, plaintext, aad) (len + 16 tag)
with aad = b"motcua-blob:" + the blob's SHA-256 hex (the hash of the plaintext, its content address).

The header is random (a fresh ephemeral key per seal): a node seals a blob once and keeps the header,
so an upload resumed after a restart sends the same bytes (node/blob_lane.py).
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .sealedbox import SealedBoxError, open_box, seal_to

MAGIC = b"MCT1"
HEADER = 4 + 32 + 12 + 48
MIN_SIZE = HEADER + 12 + 16  # an empty plaintext


class BlobObjectError(ValueError):
    """An object that is not a sound blob for its hash (damaged, truncated, forged, wrong key)."""


def aad(digest: str) -> bytes:
    return b"motcua-blob:" + digest.encode("ascii")


def seal_header(blob_key: bytes, digest: str, central_public: Ed25519PublicKey) -> bytes:
    """The 96-byte header that gives central (and only central) this one blob's key."""
    if len(blob_key) != 32:
        raise ValueError("a blob key is 32 bytes")
    box = seal_to(central_public, blob_key, aad=aad(digest))
    return (MAGIC + base64.b64decode(box["epk"]) + base64.b64decode(box["nonce"])
            + base64.b64decode(box["ct"]))


def _open_key(raw: bytes, digest: str, central_private: Ed25519PrivateKey) -> bytes:
    if len(raw) < MIN_SIZE or raw[:4] != MAGIC:
        raise BlobObjectError(f"blob {digest[:12]}: not a motcua blob object (truncated or damaged)")
    box = {"alg": "X25519-HKDF-SHA256-AES256GCM", "epk": base64.b64encode(raw[4:36]).decode("ascii"),
           "nonce": base64.b64encode(raw[36:48]).decode("ascii"),
           "ct": base64.b64encode(raw[48:HEADER]).decode("ascii")}
    try:
        return open_box(central_private, box, aad=aad(digest))
    except SealedBoxError:
        raise BlobObjectError(f"blob {digest[:12]}: its key is not sealed to this central's key") from None


def open_object(raw: bytes, digest: str, central_private: Ed25519PrivateKey) -> bytes:
    """The plaintext of a stored object, checked against ``digest``; raises BlobObjectError."""
    blob_key = _open_key(raw, digest, central_private)
    try:
        data = AESGCM(blob_key).decrypt(raw[HEADER:HEADER + 12], raw[HEADER + 12:], aad(digest))
    except InvalidTag:
        raise BlobObjectError(f"blob {digest[:12]}: fails its authentication tag (corrupt or truncated)") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise BlobObjectError(f"blob {digest[:12]}: plaintext does not match its hash")
    return data


def verify(raw: bytes, digest: str, central_private: Ed25519PrivateKey) -> None:
    """Raise BlobObjectError unless ``raw`` is a sound object for ``digest``."""
    open_object(raw, digest, central_private)


def plaintext_size(object_size: int) -> int:
    return max(object_size - MIN_SIZE, 0)


# --- restore: central gives a node back its own blob (issue 11, point 8) --------------------------------
# POST RESTORE_PATH, signed like every sync request: {"hash", "offset", "limit", "public_key"}
#   200 {"hash", "header": base64 of a 96-byte header sealing the blob key to the node's key,
#        "size": length of the data part, "offset", "data": base64 of data part bytes offset..offset+limit}
# The data part is the object's own (nonce | ciphertext | tag), unchanged, so pieces of one restore
# fit together whatever header each reply carries; the node opens header + data part with its key.
RESTORE_PATH = "/api/v1/sync/blob-restore"
MAX_RESTORE_PIECE = 1024 * 1024


def reseal(raw: bytes, digest: str, central_private: Ed25519PrivateKey, recipient: Ed25519PublicKey) -> bytes:
    """A new header for the object ``raw`` giving its blob key to ``recipient`` instead of central."""
    return seal_header(_open_key(raw, digest, central_private), digest, recipient)
