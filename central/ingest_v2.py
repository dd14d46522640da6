"""Accepting a push in wire format v2 (protocol/wire2.py): rebuild the full events, then the v1 path.

The envelope signature (over the v2 bytes) is checked before anything is parsed, as in v1. The
rebuilt full payload must then match the batch signature by the same active key set; from there
the batch goes through exactly the checks of a v1 batch (ingest.prepare and ingest.store_batch),
and central stores the full canonical payload (gzip) with the batch signature, so a stored batch
verifies like a v1 one. The rebuild needs no database: with ingest_workers it runs in a worker.
"""
from __future__ import annotations

import orjson

try:
    from isal import igzip as _gzip  # ISA-L's gzip
except ImportError:  # a machine without isal's wheels (pyproject installs it on x86-64 and ARM64 only)
    import gzip as _gzip  # type: ignore[no-redef]

from protocol import wire2
from protocol.canonical import canonical_json_of_parsed
from protocol.keys import KeyError_, load_public, verify

from .ingest import Caps, Job, Refused, run_ingest


def ingest_v2(conn, node_id: str | None, body: bytes, signature: str | None, batch_signature: str | None, *,
              source: str, now, caps: Caps, workers: int = 0, where=None) -> tuple[int, dict]:
    return run_ingest(conn, Job(True, node_id, [], body, signature, batch_signature, caps, now, where),
                      source=source, workers=workers)


def rebuild(keys: list[str], node_id: str, payload: dict, batch_signature: str | None,
            hashes: list[str] | None = None):
    """The full events of an opened v2 payload, their canonical bytes (``hashes`` receives their
    hashes), and what is stored (the full payload, gzip, with the batch signature); Refused when
    they cannot be rebuilt or do not match.

    The events are encoded with orjson first (~1 µs per bench event against ~7.5 µs for json): its bytes are
    canonical JSON's byte for byte for every value a parsed payload holds (tests/central/
    test_fast_rebuild.py compares them over every code point, key order and integer range), and they
    are kept only when the rebuilt payload they make verifies against the batch signature. Anything
    else (bytes that do not verify, a value orjson refuses, a malformed batch) is rebuilt again with
    canonical JSON exactly as before, which accepts or refuses it as before."""
    if payload.get("v") != wire2.VERSION:
        raise Refused(400, "bad_payload", f"a {wire2.ENCODING} body must say \"v\": {wire2.VERSION}")
    fast = _fast_rebuild(keys, node_id, payload, batch_signature) if batch_signature else None
    if fast is not None:
        events, raws, full, digests = fast
    else:
        digests = []
        try:
            events, raws = wire2.decode_events(payload.get("events"), node_id, digests)
        except wire2.WireError as exc:
            raise Refused(400, "bad_payload", f"v2 events cannot be rebuilt: {exc}") from None
        full = _full_bytes(payload, events, raws)
        if not batch_signature or not _signed_by(keys, full, batch_signature):
            raise Refused(401, "bad_batch_signature", "the rebuilt batch does not match the batch signature; "
                          "resend it in wire format v1")
    if hashes is not None:
        hashes.extend(digests)
    return events, raws, stored_body(full), batch_signature


def stored_body(full: bytes) -> bytes:
    """What central stores of a rebuilt payload: gzip (RFC 1952, read back with the standard library's
    gzip), written by ISA-L where isal is installed (~0.8 µs per bench event against ~3.5 for zlib at
    level 1, and smaller), else by zlib; mtime 0, so the same payload makes the same bytes."""
    return _gzip.compress(full, compresslevel=1, mtime=0)


def _fast_json(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _fast_rebuild(keys: list[str], node_id: str, payload: dict, batch_signature: str):
    """(events, raws, full bytes, hashes) rebuilt with orjson, or None unless the full bytes verify."""
    digests: list[str] = []
    try:
        events, raws = wire2.decode_events(payload.get("events"), node_id, digests, encode=_fast_json)
    except Exception:  # noqa: BLE001 - orjson.JSONEncodeError (a TypeError) or a malformed batch: the canonical path decides
        return None
    full = _full_bytes(payload, events, raws)
    if not _signed_by(keys, full, batch_signature):
        return None
    return events, raws, full, digests


def _full_bytes(payload: dict, events: list[dict], raws: list[bytes]) -> bytes:
    """The canonical bytes of the full payload, splicing in the events' canonical bytes already made
    (``events`` sorts first among the payload's keys; otherwise it is encoded whole)."""
    empty = canonical_json_of_parsed(wire2.full_payload(payload, []))
    if empty.startswith(b'{"events":[]'):
        return b'{"events":[' + b",".join(raws) + b"]" + empty[len(b'{"events":[]'):]
    return canonical_json_of_parsed(wire2.full_payload(payload, events))


def _signed_by(keys: list[str], raw: bytes, signature: str) -> bool:
    for key_text in keys:
        try:
            if verify(load_public(key_text), raw, signature):
                return True
        except KeyError_:
            continue
    return False
