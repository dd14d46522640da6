"""A signed file of pending events for a USB stick, when a node has no network at all."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from protocol import sync as wire
from protocol.envelope import seal
from protocol.keys import load_private

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
    document = {"kind": wire.BUNDLE_KIND, "node": node_id, "signature": signature,
                "body": base64.b64encode(body).decode("ascii"),
                "first_seq": pending[0]["seq"] if pending else None,
                "last_seq": pending[-1]["seq"] if pending else None}
    target = Path(target)
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(document, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(target)
    return len(pending)
