"""USB bundles: a node's signed batch in a file, imported through the same ingest() as a push.

File format: JSON {"kind": "motcua-bundle", "node", "signature", "body": base64 of the gzip body}.
"""
from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

from protocol import sync as wire

from .ingest import Caps, Refused, error_payload, ingest


def read_bundle(path: Path, caps: Caps) -> tuple[str, bytes, str]:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Refused(400, "bad_bundle", f"cannot read {path}: {exc.strerror}") from None
    if size > caps.max_body * 2 + 4096:  # base64 grows the body by a third
        raise Refused(413, "too_large", f"bundle file of {size} bytes is over the cap")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "bad_bundle", f"{path.name} is not a motcua bundle: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != wire.BUNDLE_KIND:
        raise Refused(400, "bad_bundle", f"{path.name} is not a motcua bundle (kind must be {wire.BUNDLE_KIND!r})")
    node, signature, body = doc.get("node"), doc.get("signature"), doc.get("body")
    if not all(isinstance(v, str) for v in (node, signature, body)):
        raise Refused(400, "bad_bundle", "bundle needs string fields node, signature and body")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "bad_bundle", "bundle body is not base64") from None
    return node, raw, signature


def import_bundle(conn, path: Path, *, now, caps: Caps) -> tuple[int, dict]:
    try:
        node, body, signature = read_bundle(path, caps)
    except Refused as exc:
        return exc.status, error_payload(exc, node=None, request=None, now=now)
    return ingest(conn, node, body, signature, source="bundle", now=now, caps=caps)
