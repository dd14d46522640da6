"""A signed file of pending events for a USB stick, when a node has no network at all.

The file is encrypted to central's key (protocol.sealedbox: ephemeral X25519 + AES-GCM, to the
encryption key derived from central's pinned Ed25519 key), so a lost stick reveals no citizen's
data; only the node id and the seq range are readable. Inside is the same signed, gzip body a
push sends, and central imports it through the same checks as a push.
"""
from __future__ import annotations

import base64
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
