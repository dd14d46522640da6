"""POST /api/v1/sync/blob-restore: a node rebuilt after its disk died fetches its documents back.

Signed like every sync request (central/views/sync.py ``_read_request``), for one hash and one piece
(protocol/blobobject.py: RESTORE_PATH). Central serves a blob only to the node whose dossiers name
it, and only what it holds and verifies. It never sends its own key material: it opens the blob key
sealed to it, seals that one key to the requesting node's registered key, and sends the object's data
part as stored (still encrypted under that blob key), one capped piece per request.
"""
from __future__ import annotations

import base64

from flask import Blueprint, current_app

from protocol import blobobject
from protocol.keys import load_public

from ..blobstore import StorageError, check_hash, storage_for
from ..ingest import Refused, active_keys
from ..store import blobs
from .sync import _read_request

bp = Blueprint("blob_restore", __name__)


def _whole(value, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise Refused(400, "bad_payload", f"'{name}' must be a whole number >= {low}")
    return value


@bp.post(blobobject.RESTORE_PATH)
def restore_blob():
    def handler(conn, node, payload):
        digest = payload.get("hash")
        try:
            check_hash(digest)
        except StorageError as exc:
            raise Refused(400, "bad_payload", str(exc)) from None
        offset = _whole(payload.get("offset", 0), "offset")
        limit = min(_whole(payload.get("limit", blobobject.MAX_RESTORE_PIECE), "limit", 1),
                    blobobject.MAX_RESTORE_PIECE)
        key_text = payload.get("public_key")
        if not isinstance(key_text, str) or key_text not in active_keys(conn, node):
            raise Refused(400, "bad_payload", "'public_key' must be this node's registered key")
        if not blobs.named_by_node(conn, node, [digest]):
            raise Refused(404, "not_named", f"no dossier of node {node} names blob {digest[:16]}")
        storage = storage_for(current_app.config["DATA_DIR"], current_app.config["MOTCUA"])
        if not blobs.held(conn, [digest]) or not storage.has(digest):
            raise Refused(404, "not_held", f"central does not hold blob {digest[:16]} yet")
        raw = storage.read(digest)
        central_key = current_app.extensions["motcua.central_key"]
        try:
            if offset == 0:  # the first piece of a restore: check the whole object before serving it
                blobobject.verify(raw, digest, central_key)
            header = blobobject.reseal(raw, digest, central_key, load_public(key_text))
        except blobobject.BlobObjectError as exc:
            raise Refused(409, "damaged", f"{exc}; run motcua-central blobs check") from None
        data_part = raw[blobobject.HEADER:]
        if offset > len(data_part):
            raise Refused(400, "bad_payload", f"'offset' {offset} is past the end ({len(data_part)})")
        return {"hash": digest, "header": base64.b64encode(header).decode("ascii"), "size": len(data_part),
                "offset": offset, "data": base64.b64encode(data_part[offset:offset + limit]).decode("ascii")}
    return _read_request(handler)
