"""A signed file of pending events for a USB stick, when a node has no network at all, and beside it
the document files central does not hold yet (``export_blobs``; format in protocol/blobbundle.py).

The file is encrypted to central's key (protocol.sealedbox: ephemeral X25519 + AES-GCM, to the
encryption key derived from central's pinned Ed25519 key), so a lost stick reveals no citizen's
data; only the node id and the seq range are readable. Inside is the same signed, gzip body a
push sends, and central imports it through the same checks as a push.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from protocol import sync as wire
from protocol.canonical import canonical_json
from protocol.envelope import seal
from protocol.keys import load_private, load_public
from protocol.sealedbox import seal_to

from . import events, sync_state
from .clock import local_now


def export_bundle(conn, data_dir: Path, target: Path) -> int:
    """Write every event central has not acknowledged; returns how many. Acks come from central later."""
    node_id = sync_state.get(conn, "node_id")
    if not node_id:
        raise ValueError("node is not enrolled: run motcua-node enroll first")
    acked, _ = sync_state.acked_head(conn)
    pending = events.read(conn, acked)
    payload = {"node": node_id, "nonce": wire.nonce(), "sent_at": local_now().isoformat(), "events": pending,
               "pending": 0, "oldest_pending_at": pending[0]["at"] if pending else None}
    body, signature = seal(load_private(Path(data_dir) / "node.key"), payload)
    inner = canonical_json({"signature": signature, "body": base64.b64encode(body).decode("ascii")})
    sealed = seal_to(load_public(sync_state.get(conn, "central_public_key")), inner, aad=node_id.encode("utf-8"))
    document = {"kind": wire.BUNDLE_KIND, "version": 2, "node": node_id, "sealed": sealed,
                "first_seq": pending[0]["seq"] if pending else None,
                "last_seq": pending[-1]["seq"] if pending else None}
    target = Path(target)
    tmp = target.with_name(target.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(document, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(target)
    return len(pending)


# --- document blobs on the stick (issue 11, point 6) ---------------------------------------------------

def parse_size(text: str) -> int:
    """'100MB', '1.5GB', '700KB' or a number of bytes -> bytes (units of 1024)."""
    import re
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?i?B?)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 100MB, 1.5GB, 700KB)")
    unit = (match.group(2) or "").upper().replace("I", "").rstrip("B")
    return int(float(match.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[unit])


def blob_file_names(target: Path, parts: int) -> list[Path]:
    """FILE.blobs-01-of-03.motcua ... beside the events file FILE (any name: each file describes itself)."""
    target = Path(target)
    stem, suffix = (target.stem, target.suffix) if target.suffix else (target.name, "")
    return [target.with_name(f"{stem}.blobs-{i:02d}-of-{parts:02d}{suffix}") for i in range(1, parts + 1)]


STEP = 1 << 20


def export_blobs(conn, data_dir: Path, target: Path, max_size: int) -> tuple[list[Path], int, int]:
    """Write the MCT1 objects of every blob central does not hold yet into files of at most ``max_size``
    bytes beside ``target``; returns (files, blobs, object bytes). Nothing is marked held: the node
    learns central holds them at its next ``have`` query (or they go again in the next bundle)."""
    import secrets

    from protocol import blobbundle

    from . import blob_outbox
    from .blobs import BlobStore
    node_id = sync_state.get(conn, "node_id")
    if not node_id:
        raise ValueError("node is not enrolled: run motcua-node enroll first")
    central_public = load_public(sync_state.get(conn, "central_public_key"))
    store = BlobStore(data_dir, create_key=False)
    objects = []
    for row in blob_outbox.waiting(conn):
        if store.exists(row["hash"]):  # a file lost here is reported by `motcua-node blobs check`
            objects.append((row["hash"], blob_outbox.object_size(conn, store, row["hash"], central_public)))
    if not objects:
        return [], 0, 0
    plans = blobbundle.plan(objects, max_size)
    names = blob_file_names(target, len(plans))
    key = load_private(Path(data_dir) / "node.key")
    set_id = secrets.token_hex(8)
    def slices(piece):  # a piece read in steps of 1 MB: memory stays small whatever --max-size is
        for start in range(piece.offset, piece.offset + piece.length, STEP):
            yield blob_outbox.read_object(conn, store, piece.hash, central_public, start,
                                          min(STEP, piece.offset + piece.length - start))

    for number, (pieces, path) in enumerate(zip(plans, names, strict=True), start=1):
        entries, at = [], 0
        for p in pieces:  # first pass: each piece's SHA-256 for the signed manifest that heads the file
            digest = hashlib.sha256()
            for data in slices(p):
                digest.update(data)
            entries.append({"hash": p.hash, "size": p.size, "offset": p.offset, "length": p.length, "at": at,
                            "sha256": digest.hexdigest()})
            at += p.length
        manifest = {"node": node_id, "set": set_id, "part": number, "parts": len(plans),
                    "created_at": local_now().isoformat(), "pieces": entries}
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as fh:
            fh.write(blobbundle.header(manifest, key))
            for p in pieces:
                for data in slices(p):
                    fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    return names, len(objects), sum(size for _, size in objects)
