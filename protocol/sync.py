"""The sync wire contract between a node and central (all bodies are sealed envelopes).

Every request below is ``POST`` with a gzip body signed by the node's key
(headers ``X-Motcua-Node: <node id>``, ``X-Motcua-Signature``, ``Content-Encoding: gzip``);
every response body, errors included, is sealed by central's key the same way, and
carries ``central_time`` (central's clock) and ``request`` (the request's nonce, so an
old reply cannot be replayed as a new one).

POST /api/v1/sync/push   {"node", "nonce", "sent_at", "events": [event...], "pending", "oldest_pending_at"}
    200 {"node", "request", "central_time", "head": {"seq", "hash"}, "accepted": n, "duplicates": n}
        Events central already holds with the same hash are acknowledged again (idempotent).
    409 {"error": {"code": "gap" | "fork" | "chain", "message"}, "head": {...}, ...}
        gap: the batch does not start right after central's head -> resend from head.seq + 1.
        fork: a stored seq arrived with a different hash -> refused, recorded, never overwritten.
POST /api/v1/sync/feed   {"node", "nonce", "sent_at", "after": seq, "limit": n}
    200 {"node", "request", "central_time", "entries": [entry...], "head": {"seq", "hash"},
         "after_hash": hash of central's entry ``after`` (null if it has none)}
        entries are central's feed to this node: a hash chain of event-shaped entries with
        node "central" (types catalogue.published, calendar.published, dossier.handed_back,
        dossier.handed_down); the node verifies the chain from the head it already applied,
        and checks ``after_hash`` against the hash it applied: a different one means central's
        feed diverged (central restored from an older backup) -> the node stops applying and
        says so until ``motcua-node resync-feed`` re-reads the whole feed. A central too old to
        send ``after_hash`` is checked by re-reading entry ``after`` itself.
POST /api/v1/sync/history {"node", "nonce", "sent_at", "after": seq, "limit": n}
    200 {"node", "request", "central_time", "events": [event...], "head": {...}}
        the node's own events as central stored them (disaster recovery).
GET  /api/v1/sync/resume/<upload>          (header X-Motcua-Node; no body)
POST /api/v1/sync/resume/<upload>          (headers X-Motcua-Node, X-Motcua-Offset; body: the push body from
                                            that offset on)
    A push cut on its way (the link reset mid-body) is not lost: central keeps the bytes that reached
    it, with the cut request's headers, under ``upload_id(<its X-Motcua-Signature>)`` (one upload per
    node, a while, a byte cap: central's setting sync_resume_bytes; 0 = off). Only a central whose
    sealed replies say ``wire.resume`` keeps them.
    GET  200 {"offset": bytes held, "length": the body's length} | 404 {"error": {"code": "not_held"}}
         (plain JSON, not sealed: the offset is only a hint; what completes is verified below)
    POST with the rest: central appends what continues what it holds, and once the body is whole it
         is ingested exactly as that push (its own signatures, checked as always); the reply is the
         push's sealed reply (``request`` = the push's nonce). 409 {"offset", "length"}: the offset
         is not where central's copy ends (send from "offset"); 404: nothing held (send the batch again).
POST /api/v1/enroll      plain JSON {"code", "public_key", "agency_code"} (the one-time code is the credential)
    200 sealed {"node", "agency_code", "agency_name", "central_public_key", "central_fingerprint",
                "node_fingerprint", "central_time", "head": {"seq", "hash"}, "recovery": bool, "request": code-hash}
"""
from __future__ import annotations

import hashlib
import uuid

FEED_NODE = "central"
RESUME = "/api/v1/sync/resume/"  # + upload_id(...)
OFFSET_HEADER = "X-Motcua-Offset"
PUSH = "/api/v1/sync/push"
FEED = "/api/v1/sync/feed"
HISTORY = "/api/v1/sync/history"
ENROLL = "/api/v1/enroll"
BUNDLE_KIND = "motcua-bundle"


def enrol_request_id(code: str) -> str:
    """The ``request`` field of an enrolment reply: SHA-256 hex of the code without dashes/spaces, upper-cased."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def nonce() -> str:
    return uuid.uuid4().hex


def head_dict(seq: int, hash_: str) -> dict:
    return {"seq": seq, "hash": hash_}


def upload_id(signature: str) -> str:
    """The name of a push body on the resume path: 16 hex of SHA-256 of its X-Motcua-Signature value
    (both sides derive it; nothing extra travels with the push). Central holds one upload per node,
    so 64 bits name it beyond doubt."""
    return hashlib.sha256(signature.encode("ascii", "replace")).hexdigest()[:16]
