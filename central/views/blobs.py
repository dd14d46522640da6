"""The blob lane's endpoints nodes call (protocol/blobsync.py): ``have`` and ``chunk``.

What a node sends is untrusted however well signed: every request is signed by the node's active
key (``have`` is a sealed envelope like a push; a chunk's metadata header is signed and names the
body's SHA-256), a nonce is used once, a node uploads only blobs its own dossiers name, an upload
grows only at the offset central has staged, and the object is verified (it opens with central's key
and hashes to its address) before it is held. Every reply, errors included, is sealed.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from datetime import datetime

from flask import Blueprint, current_app, g, request

from protocol import blobsync
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER

from ..blob_intake import BlobRefused, finish_staged
from ..blobstore import StorageError, storage_for
from ..clock import iso
from ..db import get_db
from ..ingest import Caps, Refused, authenticate
from ..store import blobs, nodes
from .sync import read_body, refused, sealed

bp = Blueprint("blobs", __name__)
log = logging.getLogger("motcua.central")

NONCE_SECONDS = 2 * 3600     # a nonce is remembered this long ...
FRESH_SECONDS = 3600         # ... and a request whose sent_at is further than this from now is refused
NONCE_CAP = 200_000


class NonceCache:
    """Nonces seen lately (this process). A request older than FRESH_SECONDS is refused as stale, so a
    replay is caught either way; a replay after a restart of central still only meets the offset check
    (a chunk can only land where central's staging ends, and it is the node's own signed bytes)."""

    def __init__(self):
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def use(self, node: str, nonce: str) -> bool:
        """True the first time ``node`` uses ``nonce``; False for a replay."""
        key, now = f"{node}\n{nonce}", time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) > NONCE_CAP or next(iter(self._seen.values())) < now - NONCE_SECONDS):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def _nonces() -> NonceCache:
    """This central's cache (one per app: one database, one set of nodes)."""
    return current_app.extensions.setdefault("motcua.blob_nonces", NonceCache())


_upload_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _lock_for(upload_id: str) -> threading.Lock:
    with _locks_lock:
        if len(_upload_locks) > 10_000:
            for key in [k for k, v in _upload_locks.items() if not v.locked()]:
                del _upload_locks[key]
        return _upload_locks.setdefault(upload_id, threading.Lock())


@bp.app_template_filter("mb")
def megabytes(size) -> str:
    """Bytes as Vietnamese megabytes for the node pages: "0", "0,3", "12,5"."""
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return "0"
    return f"{max(size / 1e6, 0.1):.1f}".replace(".", ",")


def _settings() -> dict:
    return current_app.config["MOTCUA"]


def _storage():
    storage = current_app.extensions.get("motcua.blob_storage")
    if storage is None:
        storage = current_app.extensions["motcua.blob_storage"] = storage_for(current_app.config["DATA_DIR"],
                                                                              _settings())
    return storage


def _fresh(conn, node: str, payload: dict, now: datetime) -> None:
    """Refuse a replayed nonce, or a request stamped far from now by the node's own clock."""
    if not _nonces().use(node, payload["nonce"]):
        raise Refused(409, "replayed", "this request's nonce was already used")
    try:
        sent = datetime.fromisoformat(payload.get("sent_at") or "")
    except ValueError:
        raise Refused(400, "bad_payload", "'sent_at' must be the node's local time (ISO 8601)") from None
    if sent.tzinfo is not None:
        sent = sent.replace(tzinfo=None)
    row = nodes.get(conn, node) or {}
    offset = row.get("clock_offset_seconds") or 0
    if abs((sent - now).total_seconds() - offset) > FRESH_SECONDS:
        raise Refused(409, "stale", "request is stamped over an hour away from now (an old request replayed?)")


def _reply(status: int, node: str, req: str | None, **fields):
    return sealed(status, dict(fields, node=node, request=req, central_time=iso(g.now)))


@bp.post(blobsync.HAVE)
def have():
    node = request.headers.get(NODE_HEADER)
    req = None
    try:
        caps = current_app.config["CAPS"]
        body = read_body(caps.max_body)
        conn = get_db()
        payload = authenticate(conn, node, body, request.headers.get(SIGNATURE_HEADER), caps)
        req = payload["nonce"]
        _fresh(conn, node, payload, g.now)
        try:
            hashes, backlog = blobsync.check_have(payload)
        except blobsync.ChunkMetaError as exc:
            raise Refused(400, "bad_payload", str(exc)) from None
        # only for blobs this node's own dossiers name: a node cannot probe what else central holds
        held = blobs.held(conn, hashes) & blobs.named_by_node(conn, node, hashes)
        storage = _storage()
        received = {}
        for digest in hashes:
            if digest not in held:
                staged = storage.staged_size(blobs.upload_id(node, digest))
                if staged:
                    received[digest] = staged
        if backlog is not None:
            blobs.report_backlog(conn, node, backlog["files"], backlog["bytes"], backlog["oldest_at"], g.now)
        nodes.record_contact(conn, node, payload, g.now)
    except Refused as exc:
        return refused(exc, node, req)
    return _reply(200, node, req, held=sorted(held), received=received)


def _authenticate_chunk(conn, node: str | None, caps: Caps) -> dict:
    raw = request.headers.get(blobsync.CHUNK_HEADER, "")
    if len(raw) > blobsync.MAX_CHUNK_HEADER:
        raise Refused(400, "bad_chunk", f"{blobsync.CHUNK_HEADER} header is too long")
    meta_bytes = raw.encode("latin-1", errors="replace")
    # the node/key checks of every sync request; the "envelope" here is the header itself, not gzip
    authenticate(conn, node, meta_bytes, request.headers.get(SIGNATURE_HEADER), caps,
                 inflate=lambda body, _max_body, _max_raw: body)
    try:
        return blobsync.parse_meta(meta_bytes)
    except blobsync.ChunkMetaError as exc:
        raise Refused(400, "bad_chunk", str(exc)) from None


@bp.post(blobsync.CHUNK)
def chunk():
    node = request.headers.get(NODE_HEADER)
    req = None
    try:
        conn = get_db()
        caps = current_app.config["CAPS"]
        meta = _authenticate_chunk(conn, node, caps)
        req = meta["nonce"]
        _fresh(conn, node, meta, g.now)
        settings = _settings()
        digest, size, offset = meta["hash"], meta["size"], meta["offset"]
        if size > settings["max_blob_bytes"]:
            raise Refused(413, "too_large", f"a blob of {size} bytes is over central's "
                                            f"{settings['max_blob_bytes']}-byte cap (setting max_blob_bytes)")
        if meta["length"] > settings["max_blob_chunk_bytes"]:
            raise Refused(413, "too_large", f"a chunk of {meta['length']} bytes is over the "
                                            f"{settings['max_blob_chunk_bytes']}-byte cap")
        data = read_body(settings["max_blob_chunk_bytes"])
        if len(data) != meta["length"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise Refused(400, "bad_chunk", "the body's length or SHA-256 differs from its signed header "
                                            "(damaged on the way?)")
        storage = _storage()  # (contact is recorded by ``have``, not by every chunk: one write less each)
        if blobs.held(conn, [digest]) and storage.has(digest):
            return _reply(200, node, req, received=size, held=True)
        upload = blobs.upload(conn, node, digest)
        if upload is None and not blobs.referenced_by(conn, node, digest):
            raise Refused(403, "not_referenced", f"no dossier of node {node} names blob {digest[:12]}")
        upload = blobs.start_upload(conn, node, digest, size, g.now)
        uid = upload["upload_id"]
        with _lock_for(uid):
            staged = storage.staged_size(uid)
            if staged > size:  # a different declared size restarted the upload: its old bytes go too
                storage.drop(uid)
                staged = 0
            if staged != upload["received"]:  # central stopped between staging a chunk and recording it
                blobs.advance_upload(conn, uid, upload["received"], staged, g.now)
            if offset != staged:
                return _reply(409, node, req, error={"code": "offset", "message": f"central has {staged} bytes of "
                                                     f"this upload staged; send from there"}, received=staged)
            try:
                received = storage.append(uid, offset, data)
            except StorageError as exc:
                log.error("blob upload %s from %s: %s", digest[:12], node, exc)
                raise Refused(503, "storage", "central could not store the chunk; try again later") from None
            blobs.advance_upload(conn, uid, offset, received, g.now)
            if received < size:
                return _reply(200, node, req, received=received, held=False)
            try:
                new = finish_staged(conn, storage, current_app.extensions["motcua.central_key"], upload_id=uid,
                                    digest=digest, node=node, now=g.now)
            except BlobRefused as exc:
                log.warning("blob %s from %s dropped: %s", digest[:12], node, exc)
                return _reply(422, node, req, error={"code": exc.code, "message": str(exc) + "; send it again"},
                              received=0)
            if new:
                log.info("blob %s stored from %s (%d bytes)", digest[:12], node, size)
            return _reply(200, node, req, received=size, held=True)
    except Refused as exc:
        if exc.code not in ("replayed",):
            log.warning("blob chunk from %s refused: %s", node, exc.code)
        return refused(exc, node, req)

