"""Wire format v2 of a push: send only what central cannot derive (docs/ARCHITECTURE.md "Wire format").

An event keeps its v1 meaning: its hash and the batch signature are over the FULL canonical event,
exactly as in v1. v2 only changes how a batch travels:

- ``node`` is left out (it is the payload's node); ``seq`` only on the first event of a batch and
  where it is not the previous seq + 1; ``prev`` only on the first event (so central's fork check
  sees the node's real link) and never after it (it is the hash of the event before, in the batch);
- ``id`` is left out where it is the derived one, ``derived_id(node, seq)`` (events appended since
  v2 use it; older events keep their random UUID and carry it);
- inside ``data``, a field whose value equals the per-type template default (a literal such as
  ``null``, ``""``, ``[]``, ``0``, or a reference to another field, such as ``created_at`` = the
  event's ``at``) is left out, and a template field the event does not have is listed under
  ``"~"``. The encoder checks that decoding gives back the identical event; when it would not
  (a key named ``~``, anything odd), the event travels whole under ``{"full": event}``;
- the canonical JSON of the v2 payload is deflated with a fixed shared dictionary (zlib ``zdict``,
  ``ZDICT``), Content-Encoding ``x-motcua-zd1``.

Two signatures: ``X-Motcua-Signature`` over the v2 bytes (checked before anything is parsed, as
in v1), and ``X-Motcua-Batch-Signature`` over the canonical JSON of the full v1 payload that
central rebuilds; central stores that full payload (gzip) with the batch signature, so a stored
batch is verified exactly as a v1 batch is.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from .canonical import canonical_json
from .events import event_hash

VERSION = 2
WIRE_HEADER = "X-Motcua-Wire"
BATCH_SIGNATURE_HEADER = "X-Motcua-Batch-Signature"
ENCODING = "x-motcua-zd1"
MISSING = "~"
MAX_EVENTS = 10_000  # a v2 batch lists at most this many events (bounds the decoder's work)


class WireError(ValueError):
    """A v2 payload that cannot be rebuilt into v1 events (English message)."""


def derived_id(node: str, seq: int) -> str:
    """The event id that is a function of (node, seq): 32 hex characters, like a UUID's."""
    return hashlib.sha256(f"motcua-event:{node}:{seq}".encode()).hexdigest()[:32]


class Ref:
    """A template default that is another field of the same event: a path from the event root."""

    __slots__ = ("path",)

    def __init__(self, *path: str):
        self.path = path

    def resolve(self, event: dict):
        value = event
        for key in self.path:
            if not isinstance(value, dict) or key not in value:
                raise KeyError(key)
            value = value[key]
        return value


AT, ACTOR, NODE, DOSSIER = Ref("at"), Ref("actor"), Ref("node"), Ref("dossier")
TRANSITION = {"note": ""}
_STATE = {
    "code": DOSSIER, "agency": NODE, "channel": "in_person", "return_method": "desk",
    "applicant": {"email": ""}, "received_at": AT, "original_due_at": Ref("data", "dossier", "due_at"),
    "calendar_version": 1, "catalogue_version": 1, "status": 2, "handler": None, "holder": "node",
    "paused_at": None, "supplement_count": 0, "supplements": [], "fee_request": None, "extensions": [],
    "handoffs": [], "refusal": None, "withdrawal": None, "stop": None, "resolved_at": None,
    "result_class": None, "result_note": None, "returned_at": None, "rating": None, "received_by": ACTOR,
    "created_at": AT, "updated_at": AT,
}
TEMPLATES: dict[str, dict] = {  # event type -> template of its ``data``; part of wire v2: never change, add a v3
    "dossier.received": {"dossier": _STATE},
    "dossier.registered": {"dossier": dict(_STATE, status=1, channel="online", received_at=None)},
    "dossier.processing": dict(TRANSITION, **{"from": 2, "to": 4}),
    "dossier.resolved": dict(TRANSITION, **{"from": 4, "to": 9, "set": {"resolved_at": AT, "result_note": ""}}),
    "dossier.returned": dict(TRANSITION, **{"from": 9, "to": 10,
                                           "set": {"returned_at": AT, "return_method": "desk"}}),
    "dossier.supplement_requested": dict(TRANSITION, **{"from": 4, "to": 5, "set": {"paused_at": AT}}),
    "dossier.supplement_received": dict(TRANSITION, **{"from": 5, "to": 4, "set": {"paused_at": None}}),
    "dossier.fee_requested": dict(TRANSITION, **{"from": 4, "to": 6, "set": {
        "fee_request": {"at": AT, "paid_at": None, "note": ""}}}),
    "dossier.fee_paid": dict(TRANSITION, **{"from": 6, "to": 4, "set": {
        "fee_request": {"paid_at": AT, "note": ""}}}),
}

# The shared deflate dictionary: strings that recur in v2 events, the most frequent last (deflate
# reaches back 32 kB; nearer is cheaper). Part of wire v2 (its Adler-32 is checked on inflate).
ZDICT = canonical_json([
    "dossier.supplement_requested", "dossier.supplement_received", "dossier.fee_requested",
    "dossier.fee_paid", "dossier.resolved", "dossier.returned", "dossier.processing", "dossier.received",
    {"set": {"supplements": [{"items": "", "officer": "", "reason": "", "requested_at": "", "returned_at": None}],
             "supplement_count": 1, "due_at": "", "rating": 5, "result_class": "on_time", "handler": ""}},
    {"actor": "", "at": "2026-", "data": {"dossier": {
        "applicant": {"address": "Thôn , xã ", "id_number": "0", "name": "Nguyễn Văn ", "phone": "09"},
        "documents": [{"count": 1, "kind": "copy", "name": "Bản sao "}, {"count": 1, "kind": "original",
                                                                        "name": "Bản chính "}],
        "due_at": "2026-", "fee": 0, "field": "", "limit_unit": "working_days", "limit_value": 0,
        "procedure_code": "", "procedure_name": "", "register_no": 1, "same_day_cutoff": "15:00"}},
     "dossier": "-2", "type": "dossier.received"},
    {"actor": "", "at": "2026-", "data": {"from": 4, "to": 9}, "dossier": "-2", "type": "dossier."},
])


# --- one event ---------------------------------------------------------------------------------

def _strip(value: dict, template: dict, event: dict) -> dict:
    out = {}
    for key, item in value.items():
        default = template.get(key, _ABSENT) if key != MISSING else _ABSENT
        if default is _ABSENT:
            out[key] = item
        elif isinstance(default, dict):
            out[key] = _strip(item, default, event) if isinstance(item, dict) else item
        else:
            try:
                expected = default.resolve(event) if isinstance(default, Ref) else default
            except KeyError:
                expected = _ABSENT
            if not (type(expected) is type(item) and expected == item):
                out[key] = item
    missing = [key for key in template if key not in value]
    if missing:
        out[MISSING] = missing
    return out


_NESTED, _REF, _LIST, _LITERAL = range(4)
_PLANS: dict[int, tuple] = {}  # id of a template (module constants) -> its fields, each with its kind


def _plan(template: dict) -> tuple:
    plan = _PLANS.get(id(template))
    if plan is None:
        plan = tuple((key, _NESTED if isinstance(default, dict) else _REF if isinstance(default, Ref)
                      else _LIST if isinstance(default, list) else _LITERAL, default)
                     for key, default in template.items())
        _PLANS[id(template)] = plan
    return plan


def _fill(value: dict, template: dict, refs: list) -> dict:
    """Literal defaults now; references collected as (dict, key, Ref) to resolve once all is known."""
    if not isinstance(value, dict):
        raise WireError("a templated field must be an object")
    if MISSING in value:
        missing = value[MISSING]
        if not isinstance(missing, list) or not all(isinstance(k, str) and k in template for k in missing):
            raise WireError(f"'{MISSING}' must list fields of the template")
        out = {k: v for k, v in value.items() if k != MISSING}
    else:
        missing, out = (), dict(value)
    for key, kind, default in _plan(template):
        if missing and key in missing:
            continue
        if kind == _NESTED:
            if key not in out:
                out[key] = _fill({}, default, refs)
            elif isinstance(out[key], dict):
                out[key] = _fill(out[key], default, refs)
        elif key not in out:
            if kind == _REF:
                out[key] = None
                refs.append((out, key, default))
            elif kind == _LIST:
                out[key] = list(default)
            else:
                out[key] = default  # None, a str or an int: shared safely
    return out


_ABSENT = object()


def _rebuild_one(item, node: str, seq: int, prev: str) -> dict:
    if not isinstance(item, dict):
        raise WireError("each v2 event must be an object")
    if "full" in item:
        if set(item) != {"full"} or not isinstance(item["full"], dict):
            raise WireError("a whole event travels alone under 'full'")
        return item["full"]
    event: dict[str, Any] = {"node": node, "seq": seq, "prev": prev}
    event.update(item)
    event_seq, event_type, data = event.get("seq"), event.get("type"), event.get("data")
    if isinstance(event_seq, int) and "id" not in item:
        event["id"] = derived_id(event["node"] if isinstance(event["node"], str) else node, event_seq)
    template = TEMPLATES.get(event_type) if isinstance(event_type, str) else None
    if template is not None and isinstance(data, dict):
        refs: list = []
        event["data"] = _fill(data, template, refs)
        for holder, key, ref in refs:
            try:
                holder[key] = ref.resolve(event)
            except KeyError:
                raise WireError(f"event {seq}: field {key!r} refers to missing {'.'.join(ref.path)}") from None
    return event


def encode_event(event: dict, node: str, seq: int | None, prev: str | None) -> dict:
    """The v2 form of ``event``; ``seq``/``prev`` are what the decoder will assume (None: say them)."""
    out = {k: v for k, v in event.items() if k not in ("node", "seq", "prev", "id", "data")}
    if event.get("node") != node:
        out["node"] = event.get("node")
    if seq is None or event.get("seq") != seq:
        out["seq"] = event.get("seq")
    if prev is None or event.get("prev") != prev:
        out["prev"] = event.get("prev")
    event_seq, event_type = event.get("seq"), event.get("type")
    if not isinstance(event_seq, int) or event.get("id") != derived_id(node, event_seq):
        out["id"] = event.get("id")
    template = TEMPLATES.get(event_type) if isinstance(event_type, str) else None
    data = event.get("data")
    out["data"] = _strip(data, template, event) if template and isinstance(data, dict) else data
    try:
        back = _rebuild_one(out, node, seq if seq is not None else -1, prev if prev is not None else "")
    except (WireError, KeyError, TypeError):
        back = None
    if back is None or canonical_json(back) != canonical_json(event):
        return {"full": event}
    return out


def encode_events(events: list[dict], node: str) -> list[dict]:
    out, seq, prev = [], None, None
    for event in events:
        out.append(encode_event(event, node, seq, prev))
        seq, prev = event["seq"] + 1, event_hash(event)
    return out


# canonical_json_of_parsed's encoder, made once (json.dumps builds one on every call)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def decode_events(items, node: str, hashes: list[str] | None = None,
                  encode=None) -> tuple[list[dict], list[bytes]]:
    """The full events of a v2 batch and their canonical bytes; raises WireError on a malformed one.
    ``hashes``, when given, receives each event's hash (the sha256 of its canonical bytes).
    ``encode``: another encoder of an event to bytes, in place of canonical JSON (central's faster one,
    whose bytes it checks against the batch signature and drops for canonical JSON when they differ).

    Values are not checked here beyond what rebuilding needs: the rebuilt events go through the
    same shape, chain and signature checks as a v1 batch.
    """
    if not isinstance(items, list):
        raise WireError("'events' must be a list")
    if len(items) > MAX_EVENTS:
        raise WireError(f"a batch holds at most {MAX_EVENTS} events")
    events, raws = [], []
    seq, prev = -1, ""
    for item in items:
        event = _rebuild_one(item, node, seq, prev)
        # parsed by loads, defaults from the templates: JSON values
        raw = _CANONICAL(event).encode("utf-8") if encode is None else encode(event)
        events.append(event)
        raws.append(raw)
        seq = event["seq"] + 1 if isinstance(event.get("seq"), int) and not isinstance(event["seq"], bool) else -1
        prev = hashlib.sha256(raw).hexdigest()
        if hashes is not None:
            hashes.append(prev)
    return events, raws


# --- the payload and its compression -----------------------------------------------------------

def compress(raw: bytes, level: int = 9) -> bytes:
    deflater = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)
    return deflater.compress(raw) + deflater.flush()


def decompress(body: bytes, max_body: int, max_decompressed: int) -> bytes:
    """Inflate with the shared dictionary, streaming, refusing a body or result over its cap."""
    from .envelope import EnvelopeError
    if len(body) > max_body:
        raise EnvelopeError("too_large", f"body of {len(body)} bytes is over the {max_body}-byte cap")
    inflater = zlib.decompressobj(15, zdict=ZDICT)
    try:
        raw = inflater.decompress(body, max_decompressed + 1)
    except zlib.error as exc:
        raise EnvelopeError("bad_encoding", f"body is not valid {ENCODING}: {exc}") from None
    if len(raw) > max_decompressed or inflater.unconsumed_tail:
        raise EnvelopeError("too_large", f"body expands past the {max_decompressed}-byte cap")
    if not inflater.eof:
        raise EnvelopeError("bad_encoding", f"{ENCODING} body is truncated")
    return raw


def full_payload(payload: dict, events: list[dict]) -> dict:
    """The v1 payload a v2 payload stands for (what the batch signature covers)."""
    full = {k: v for k, v in payload.items() if k not in ("v", "events")}
    full["events"] = events
    return full
