"""Signed, gzip-compressed envelopes for everything that travels between node and central.

The signature covers the uncompressed canonical JSON bytes. A receiver checks, before
parsing anything: the compressed size, the decompressed size (streaming, so a gzip bomb
never expands in memory), then the signature; only then is the JSON parsed.
"""
from __future__ import annotations

import gzip
import zlib

from .canonical import canonical_json, loads
from .keys import sign, verify

SIGNATURE_HEADER = "X-Motcua-Signature"
NODE_HEADER = "X-Motcua-Node"
MAX_BODY = 4 * 1024 * 1024
MAX_DECOMPRESSED = 32 * 1024 * 1024


class EnvelopeError(ValueError):
    """Refused envelope; ``code`` is machine-readable, the message is English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def seal(private_key, payload: dict, level: int = 9) -> tuple[bytes, str]:
    """Return (gzip body, base64 signature of the canonical bytes)."""
    raw = canonical_json(payload)
    return gzip.compress(raw, compresslevel=level, mtime=0), sign(private_key, raw)


def decompress(body: bytes, max_body: int = MAX_BODY, max_decompressed: int = MAX_DECOMPRESSED) -> bytes:
    if len(body) > max_body:
        raise EnvelopeError("too_large", f"body of {len(body)} bytes is over the {max_body}-byte cap")
    inflater = zlib.decompressobj(wbits=31)  # gzip container only
    try:
        raw = inflater.decompress(body, max_decompressed + 1)
    except zlib.error as exc:
        raise EnvelopeError("bad_encoding", f"body is not valid gzip: {exc}") from None
    if len(raw) > max_decompressed or inflater.unconsumed_tail:
        raise EnvelopeError("too_large", f"body expands past the {max_decompressed}-byte cap")
    if not inflater.eof:
        raise EnvelopeError("bad_encoding", "gzip body is truncated")
    return raw


def open_sealed(body: bytes, signature: str | None, public_key, *, max_body: int = MAX_BODY,
                max_decompressed: int = MAX_DECOMPRESSED, inflate=None) -> dict:
    """``inflate`` (default gzip) is the body's decompressor, e.g. protocol.wire2.decompress."""
    raw = (inflate or decompress)(body, max_body, max_decompressed)
    if not signature or not verify(public_key, raw, signature):
        raise EnvelopeError("bad_signature", "signature does not match the body and the registered key")
    try:
        payload = loads(raw)
    except ValueError as exc:
        raise EnvelopeError("bad_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise EnvelopeError("bad_json", "body must be a JSON object")
    return payload
