"""Document blobs on a USB stick (issue 11, point 6): size-capped files, one signed manifest each.

A node with no link writes the MCT1 objects (protocol/blobobject.py) of the blobs central does not
hold yet into one or more files, none larger than a cap the technician chooses; an object larger
than what is left of a file is split across files. Each file stands alone:

    b"MCBB1\\n" | manifest length (4 bytes, big-endian) | manifest (canonical JSON) | data

    manifest = {"kind": "motcua-blob-bundle", "version": 1, "node", "set" (one id for every file of one
                export), "part", "parts", "created_at", "signature" (by the node key over the canonical
                JSON of the manifest without "signature"),
                "pieces": [{"hash", "size" (the whole object), "offset" (of this piece in the object),
                            "length", "at" (of this piece in the data), "sha256" (of the piece)}]}

The objects are already encrypted to central (each blob's key sealed to central's key), so a lost
stick reveals the node id, the blob hashes and sizes, and nothing of any document. Central imports
the files in any order, checks the signature against the node's registered keys, takes only hashes
that the node's dossiers name, and verifies every object before storing it (central/bundle.py).
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .canonical import canonical_json, loads
from .keys import sign, verify

MAGIC = b"MCBB1\n"
KIND = "motcua-blob-bundle"
VERSION = 1
MAX_MANIFEST = 8 * 1024 * 1024
PREFIX = len(MAGIC) + 4


class BlobBundleError(ValueError):
    """A file that is not a sound blob bundle; one English line."""


@dataclass(frozen=True)
class Piece:
    hash: str
    size: int
    offset: int
    length: int


def plan(objects: Iterable[tuple[str, int]], max_size: int, manifest_room: int = 64 * 1024) -> list[list[Piece]]:
    """Split ``(hash, object size)`` into files of at most ``max_size`` bytes (data plus ``manifest_room``
    kept for the manifest and its prefix); an object larger than what is left is split across files."""
    room = max_size - manifest_room
    if room <= 0:
        raise ValueError(f"a blob bundle file must be larger than {manifest_room} bytes")
    files: list[list[Piece]] = [[]]
    left = room
    for digest, size in objects:
        offset = 0
        while offset < size:
            if left == 0:
                files.append([])
                left = room
            length = min(size - offset, left)
            files[-1].append(Piece(digest, size, offset, length))
            offset += length
            left -= length
    return [f for f in files if f]


def signed_bytes(manifest: dict) -> bytes:
    return canonical_json({k: v for k, v in manifest.items() if k != "signature"})


def header(manifest: dict, key: Ed25519PrivateKey) -> bytes:
    """The file's prefix and signed manifest (``manifest`` without its signature)."""
    body = dict(manifest, kind=KIND, version=VERSION)
    body["signature"] = sign(key, signed_bytes(body))
    raw = canonical_json(body)
    return MAGIC + struct.pack(">I", len(raw)) + raw


def piece_entries(pieces: list[Piece], datas: list[bytes]) -> list[dict]:
    entries, at = [], 0
    for piece, data in zip(pieces, datas, strict=True):
        entries.append({"hash": piece.hash, "size": piece.size, "offset": piece.offset, "length": len(data),
                        "at": at, "sha256": hashlib.sha256(data).hexdigest()})
        at += len(data)
    return entries


def read_manifest(prefix: bytes) -> tuple[dict, int]:
    """The manifest (unverified) and where the data starts, from the first bytes of a file."""
    if len(prefix) < PREFIX or prefix[:len(MAGIC)] != MAGIC:
        raise BlobBundleError("not a motcua blob bundle (no MCBB1 header)")
    (length,) = struct.unpack(">I", prefix[len(MAGIC):PREFIX])
    if length > MAX_MANIFEST:
        raise BlobBundleError(f"manifest of {length} bytes is over the {MAX_MANIFEST}-byte cap")
    raw = prefix[PREFIX:PREFIX + length]
    if len(raw) != length:
        raise BlobBundleError("the file is truncated inside its manifest")
    try:
        manifest = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BlobBundleError(f"manifest is not JSON: {str(exc)[:100]}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND or manifest.get("version") != VERSION:
        raise BlobBundleError(f"manifest is not a {KIND} version {VERSION}")
    for name in ("node", "set", "signature"):
        if not isinstance(manifest.get(name), str) or not manifest[name]:
            raise BlobBundleError(f"manifest needs a string field {name}")
    for name in ("part", "parts"):
        if isinstance(manifest.get(name), bool) or not isinstance(manifest.get(name), int):
            raise BlobBundleError(f"manifest needs a whole number {name}")
    pieces = manifest.get("pieces")
    if not isinstance(pieces, list):
        raise BlobBundleError("manifest needs a list of pieces")
    for p in pieces:
        if not isinstance(p, dict) or not isinstance(p.get("hash"), str) or not isinstance(p.get("sha256"), str) \
                or not all(isinstance(p.get(k), int) and not isinstance(p.get(k), bool) and p[k] >= 0
                           for k in ("size", "offset", "length", "at")) \
                or p["offset"] + p["length"] > p["size"]:
            raise BlobBundleError("manifest has a malformed piece")
    return manifest, PREFIX + length


def check_signature(manifest: dict, public_keys: Iterable[Ed25519PublicKey]) -> bool:
    data = signed_bytes(manifest)
    return any(verify(key, data, manifest["signature"]) for key in public_keys)
