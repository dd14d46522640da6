"""The hash-chained event log shared by node and central.

An event is ``{node, seq, id, at, actor, type, dossier, data, prev}``. ``seq`` counts
1, 2, 3 ... per chain with no gaps, ``prev`` is the hash of the previous event
(``GENESIS`` for the first) and the event's own hash is SHA-256 over its canonical
JSON. A gap, a reorder, an edited event or a fork all break verification.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from .canonical import canonical_json

GENESIS = "0" * 64
EVENT_KEYS = ("node", "seq", "id", "at", "actor", "type", "dossier", "data", "prev")


class ChainError(ValueError):
    """The events do not form a valid continuation of the chain."""


def event_hash(event: dict) -> str:
    return hashlib.sha256(canonical_json(event)).hexdigest()


def make_event(*, node: str, seq: int, prev: str, at: str, actor: str, type: str,
               dossier: str | None, data: dict, id: str | None = None) -> dict:
    if seq < 1:
        raise ValueError("seq starts at 1")
    event = {
        "node": node,
        "seq": seq,
        "id": id or uuid.uuid4().hex,
        "at": at,
        "actor": actor,
        "type": type,
        "dossier": dossier,
        "data": data,
        "prev": prev,
    }
    canonical_json(event)  # refuse unserialisable data before anything is stored
    return event


def check_shape(event) -> None:
    if not isinstance(event, dict) or set(event) != set(EVENT_KEYS):
        raise ChainError("event must have exactly the keys " + ", ".join(EVENT_KEYS))
    if not isinstance(event["seq"], int) or isinstance(event["seq"], bool) or event["seq"] < 1:
        raise ChainError("event seq must be a positive integer")
    for key in ("node", "id", "at", "actor", "type", "prev"):
        if not isinstance(event[key], str):
            raise ChainError(f"event {key} must be a string")
    if event["dossier"] is not None and not isinstance(event["dossier"], str):
        raise ChainError("event dossier must be a string or null")
    if not isinstance(event["data"], dict):
        raise ChainError("event data must be an object")


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


EMPTY_HEAD = Head(0, GENESIS)


def verify_chain(events, head: Head = EMPTY_HEAD, node: str | None = None, hashes=None) -> Head:
    """Check that ``events`` continue the chain from ``head``; return the new head.

    ``hashes``: each event's hash when the caller computed it already (of the same canonical bytes).
    Raises ChainError naming the first event that breaks the chain.
    """
    seq, prev = head.seq, head.hash
    for i, event in enumerate(events):
        check_shape(event)
        if node is not None and event["node"] != node:
            raise ChainError(f"event {event['seq']} belongs to node {event['node']!r}, not {node!r}")
        if event["seq"] != seq + 1:
            raise ChainError(f"gap or reorder: expected seq {seq + 1}, got {event['seq']}")
        if event["prev"] != prev:
            raise ChainError(f"event {event['seq']} does not link to the previous event's hash")
        seq, prev = event["seq"], hashes[i] if hashes is not None else event_hash(event)
    return Head(seq, prev)
