"""Accepting a push in wire format v2 (protocol/wire2.py): rebuild the full events, then the v1 path.

The envelope signature (over the v2 bytes) is checked before anything is parsed, as in v1. The
rebuilt full payload must then match the batch signature by the same active key set; from there
the batch goes through exactly the checks of a v1 batch (ingest.accept), and central stores the
full canonical payload (gzip) with the batch signature, so a stored batch verifies like a v1 one.
"""
from __future__ import annotations

import gzip

from protocol import wire2
from protocol.canonical import canonical_json_of_parsed
from protocol.keys import KeyError_, load_public, verify

from .ingest import Caps, Refused, accept, active_keys, authenticate, error_payload


def ingest_v2(conn, node_id: str | None, body: bytes, signature: str | None, batch_signature: str | None, *,
              source: str, now, caps: Caps) -> tuple[int, dict]:
    request = None
    try:
        payload = authenticate(conn, node_id, body, signature, caps, inflate=wire2.decompress)
        request = payload["nonce"]
        if payload.get("v") != wire2.VERSION:
            raise Refused(400, "bad_payload", f"a {wire2.ENCODING} body must say \"v\": {wire2.VERSION}")
        try:
            events, raws = wire2.decode_events(payload.get("events"), node_id)
        except wire2.WireError as exc:
            raise Refused(400, "bad_payload", f"v2 events cannot be rebuilt: {exc}") from None
        full = _full_bytes(payload, events, raws)
        if not batch_signature or not _signed_by_node(conn, node_id, full, batch_signature):
            raise Refused(401, "bad_batch_signature", "the rebuilt batch does not match the batch signature; "
                          "resend it in wire format v1")
    except Refused as exc:
        return exc.status, error_payload(exc, node=node_id, request=request, now=now)
    stored = gzip.compress(full, compresslevel=1, mtime=0)
    return accept(conn, node_id, payload, events, raws, stored, batch_signature, source=source, now=now, caps=caps)


def _full_bytes(payload: dict, events: list[dict], raws: list[bytes]) -> bytes:
    """The canonical bytes of the full payload, splicing in the events' canonical bytes already made
    (``events`` sorts first among the payload's keys; otherwise it is encoded whole)."""
    empty = canonical_json_of_parsed(wire2.full_payload(payload, []))
    if empty.startswith(b'{"events":[]'):
        return b'{"events":[' + b",".join(raws) + b"]" + empty[len(b'{"events":[]'):]
    return canonical_json_of_parsed(wire2.full_payload(payload, events))


def _signed_by_node(conn, node_id: str, raw: bytes, signature: str) -> bool:
    for key_text in active_keys(conn, node_id):
        try:
            if verify(load_public(key_text), raw, signature):
                return True
        except KeyError_:
            continue
    return False
