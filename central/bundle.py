"""USB bundles: a node's signed batch in a file, imported through the same ingest() as a push.

File format (version 2, what nodes write): JSON {"kind": "motcua-bundle", "version": 2, "node",
"sealed": a protocol.sealedbox box to central's key holding {"signature", "body": base64 of the
gzip body}, "first_seq", "last_seq"}. Version 1 (nodes before encryption) had "signature" and
"body" in clear; it is still accepted, since the signature and every check are the same.

The file is read defensively: only a regular file (no symlink, FIFO or device: a symlink to
/dev/zero must not hang the import), opened without following links and without blocking, and
never more than the cap is read, whatever the file claims to be.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from pathlib import Path

from protocol import sync as wire
from protocol.sealedbox import SealedBoxError, open_box

from .ingest import Caps, Refused, error_payload, ingest


def _read_capped(path: Path, cap: int) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Refused(400, "bad_bundle", f"cannot open {path} as a regular file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(400, "bad_bundle", f"{path} is not a regular file")
        if info.st_size > cap:
            raise Refused(413, "too_large", f"bundle file of {info.st_size} bytes is over the {cap}-byte cap")
        chunks, left = [], cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:
        raise Refused(413, "too_large", f"bundle file is over the {cap}-byte cap")
    return data


def read_bundle(path: Path, caps: Caps, central_key=None) -> tuple[str, bytes, str]:
    path = Path(path)
    cap = caps.max_body * 2 + 4096  # base64 (and the box's base64) grow the body by a third
    raw_file = _read_capped(path, cap)
    try:
        doc = json.loads(raw_file.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "bad_bundle", f"{path.name} is not a motcua bundle: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != wire.BUNDLE_KIND:
        raise Refused(400, "bad_bundle", f"{path.name} is not a motcua bundle (kind must be {wire.BUNDLE_KIND!r})")
    node = doc.get("node")
    if not isinstance(node, str):
        raise Refused(400, "bad_bundle", "bundle needs a string field node")
    if "sealed" in doc:
        if central_key is None:
            raise Refused(400, "bad_bundle", "an encrypted bundle needs central's key to open it")
        try:
            doc = json.loads(open_box(central_key, doc["sealed"], aad=node.encode("utf-8")))
        except SealedBoxError as exc:
            raise Refused(400, "bad_bundle", f"bundle cannot be decrypted: {exc}") from None
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "bad_bundle", "decrypted bundle is not JSON") from None
        if not isinstance(doc, dict):
            raise Refused(400, "bad_bundle", "decrypted bundle is not an object")
    signature, body = doc.get("signature"), doc.get("body")
    if not all(isinstance(v, str) for v in (signature, body)):
        raise Refused(400, "bad_bundle", "bundle needs string fields node, signature and body")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "bad_bundle", "bundle body is not base64") from None
    return node, raw, signature


def import_bundle(conn, path: Path, *, now, caps: Caps, central_key=None) -> tuple[int, dict]:
    """Open (decrypt) the file and pass it to ingest(): the same checks as a push."""
    try:
        node, body, signature = read_bundle(path, caps, central_key)
    except Refused as exc:
        return exc.status, error_payload(exc, node=None, request=None, now=now)
    return ingest(conn, node, body, signature, source="bundle", now=now, caps=caps)
