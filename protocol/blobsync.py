"""The blob lane's wire contract (issue 11): how a node's document blobs reach central.

Blobs travel on their own lane, after the events that name them (node/blob_lane.py). What crosses is
the MCT1 object of protocol/blobobject.py: the node file's ciphertext behind a header that seals that
one blob's key to central's key. No ID card is readable on a link without TLS.

Two endpoints, both authenticated by the node's Ed25519 key, both answered with a sealed reply (gzip
canonical JSON signed by central, ``X-Motcua-Signature``) that echoes ``node`` and ``request`` (the
nonce) like every sync reply; errors have the sync error shape ``{"error": {"code", "message"}}``.

``POST /api/v1/sync/blobs/have``: a sealed signed envelope, exactly like a push::

    {"node", "nonce", "sent_at",
     "hashes": [sha256 hex, ...],                  # at most MAX_HAVE, oldest first
     "backlog": {"files": int, "bytes": int, "oldest_at": str | null}}   # what the node still has to send
    -> {"held": [hash, ...],                       # central holds these: mark them held, never send them
        "received": {hash: bytes staged}}          # an upload in progress resumes at exactly this offset

It is the dedup query (a blob reused by several dossiers, or already brought by a USB bundle, never
crosses twice), the backlog report central shows per node, and the "where do I resume" question.
Central answers "held" only for hashes the asking node's own dossiers name, so no node can probe
what else central holds.

``POST /api/v1/sync/blobs/chunk``: a RAW binary body (the object's bytes ``offset..offset+length``;
no base64, no gzip: the object is ciphertext, it does not compress), described by the header
``X-Motcua-Chunk``: canonical JSON (ASCII) of::

    {"node", "nonce", "sent_at", "hash", "size", "offset", "length", "sha256"}

where ``size`` is the whole object's size, ``sha256`` the hex SHA-256 of this body, signed by the node
(``X-Motcua-Signature`` over exactly the header's bytes; ``X-Motcua-Node`` names the node). The signature
covers the body through its hash. Replies:

    200 {"received": int, "held": bool}            # staged bytes after this chunk; held: the object is
                                                   # complete, verified and stored (or already was)
    409 {"error": {"code": "offset"}, "received": int}       # resume exactly at ``received``
    422 {"error": {"code": "bad_blob"}, "received": 0}       # the complete object failed verification:
                                                   # dropped, nothing stored; send it again from 0
    400 bad_chunk (length or sha256 differ from the header, or a malformed header), 401 bad_signature,
    403 unknown_node / revoked, 409 replayed (a nonce already used), 413 too_large (size over central's
    ``max_blob_bytes``, or a body over ``max_blob_chunk_bytes``), 403 not_referenced (no dossier of this
    node names the hash: a node uploads only blobs its own events reference).

Central verifies the whole object (blob_intake.finish_staged: it opens with central's key and its
plaintext hashes to ``hash``) when the last chunk arrives, and only then marks the blob held.
"""
from __future__ import annotations

import hashlib
import re

from .canonical import canonical_json, loads

HAVE = "/api/v1/sync/blobs/have"
CHUNK = "/api/v1/sync/blobs/chunk"
CHUNK_HEADER = "X-Motcua-Chunk"
MAX_HAVE = 500
MAX_CHUNK_HEADER = 2048

HEX64 = re.compile(r"^[0-9a-f]{64}$")
META_FIELDS = ("node", "nonce", "sent_at", "hash", "size", "offset", "length", "sha256")


class ChunkMetaError(ValueError):
    """A chunk header that is not the contract's shape (English message)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_meta(*, digest: str, size: int, offset: int, data: bytes) -> dict:
    """The metadata of one chunk, without node/nonce/sent_at (the client adds those)."""
    return {"hash": digest, "size": size, "offset": offset, "length": len(data), "sha256": sha256_hex(data)}


def encode_meta(meta: dict) -> bytes:
    """The header's bytes (what the node signs): canonical JSON, ASCII only."""
    raw = canonical_json(meta)
    raw.decode("ascii")  # raises on a non-ASCII node id: a header must be ASCII
    return raw


def _whole(meta: dict, key: str, low: int) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ChunkMetaError(f"chunk header field {key!r} must be a whole number >= {low}")
    return value


def parse_meta(raw: str | bytes | None) -> dict:
    """Parse and check a chunk header's shape (not its signature); raises ChunkMetaError."""
    if not raw:
        raise ChunkMetaError(f"missing {CHUNK_HEADER} header")
    data = raw.encode("latin-1") if isinstance(raw, str) else raw
    if len(data) > MAX_CHUNK_HEADER:
        raise ChunkMetaError(f"{CHUNK_HEADER} header is over {MAX_CHUNK_HEADER} bytes")
    try:
        meta = loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ChunkMetaError(f"{CHUNK_HEADER} header is not JSON") from None
    if not isinstance(meta, dict) or set(meta) != set(META_FIELDS):
        raise ChunkMetaError(f"{CHUNK_HEADER} header must have exactly the fields {', '.join(META_FIELDS)}")
    for key in ("node", "nonce", "sent_at"):
        if not isinstance(meta[key], str) or not meta[key]:
            raise ChunkMetaError(f"chunk header field {key!r} must be a non-empty string")
    for key in ("hash", "sha256"):
        if not isinstance(meta[key], str) or not HEX64.match(meta[key]):
            raise ChunkMetaError(f"chunk header field {key!r} must be a SHA-256 hex digest")
    size = _whole(meta, "size", 1)
    offset = _whole(meta, "offset", 0)
    length = _whole(meta, "length", 1)
    if offset + length > size:
        raise ChunkMetaError(f"chunk {offset}+{length} runs past the object's {size} bytes")
    return meta


def check_have(payload: dict) -> tuple[list[str], dict | None]:
    """The hashes and backlog of a ``have`` request; raises ChunkMetaError on a bad shape."""
    hashes = payload.get("hashes", [])
    if not isinstance(hashes, list) or len(hashes) > MAX_HAVE:
        raise ChunkMetaError(f"'hashes' must be a list of at most {MAX_HAVE} SHA-256 hex digests")
    if not all(isinstance(h, str) and HEX64.match(h) for h in hashes):
        raise ChunkMetaError("'hashes' must hold SHA-256 hex digests")
    backlog = payload.get("backlog")
    if backlog is None:
        return hashes, None
    if not isinstance(backlog, dict):
        raise ChunkMetaError("'backlog' must be {files, bytes, oldest_at}")
    try:
        files, size = _whole(backlog, "files", 0), _whole(backlog, "bytes", 0)
    except ChunkMetaError:
        raise ChunkMetaError("'backlog' files and bytes must be whole numbers >= 0") from None
    oldest = backlog.get("oldest_at")
    if oldest is not None and (not isinstance(oldest, str) or len(oldest) > 40):
        raise ChunkMetaError("'backlog' oldest_at must be a timestamp or null")
    return hashes, {"files": files, "bytes": size, "oldest_at": oldest}
