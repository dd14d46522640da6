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
POST /api/v1/enroll      plain JSON {"code", "public_key", "agency_code"} (the one-time code is the credential)
    200 sealed {"node", "agency_code", "agency_name", "central_public_key", "central_fingerprint",
                "node_fingerprint", "central_time", "head": {"seq", "hash"}, "recovery": bool, "request": code-hash}
"""
from __future__ import annotations

import uuid

FEED_NODE = "central"
PUSH = "/api/v1/sync/push"
FEED = "/api/v1/sync/feed"
HISTORY = "/api/v1/sync/history"
ENROLL = "/api/v1/enroll"
BUNDLE_KIND = "motcua-bundle"


def enrol_request_id(code: str) -> str:
    """The ``request`` field of an enrolment reply: SHA-256 hex of the code without dashes/spaces, upper-cased."""
    import hashlib
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def nonce() -> str:
    return uuid.uuid4().hex


def head_dict(seq: int, hash_: str) -> dict:
    return {"seq": seq, "hash": hash_}
