"""Accepting a node's signed batch: the same checks for an HTTP push and a USB bundle.

Order matters: size caps, decompression cap and the signature by the node's active key
are checked before a single byte is parsed; then the payload's shape; then the chain
against central's stored head. New events, the batch (signature and gzip body verbatim)
and the node's head are stored in one transaction; the dossier rows are materialised
in that same transaction, where a business-rule problem becomes an anomaly row and
never refuses the batch (one odd record must not block a commune's queue).

An event over the per-event cap (setting ``max_event_bytes``, 64 kB) is NOT refused at the
envelope: refusing it would leave the node stuck forever (its chain cannot change, and every
later event links to that one) and central's copy of the chain incomplete. Its cost is already
bounded by the envelope caps (max_body_bytes compressed, max_decompressed_bytes expanded), so it
is stored verbatim like any event, keeping the chain verifiable and the node's queue moving,
and becomes an anomaly before any other work is done on it: it is never validated field by
field, never materialised, never indexed. Hashing happens before the write lock is taken.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from domain.codes import ONLINE_FIRST, parse_code
from domain.digitisation import ATTACHMENT_TYPES
from domain.dossier import project
from domain.validation import MAX_EVENT_BYTES, EventInvalid, check_event
from protocol import sync as wire
from protocol.canonical import canonical_json_of_parsed
from protocol.envelope import EnvelopeError, open_sealed
from protocol.events import ChainError, Head, check_shape, verify_chain
from protocol.keys import KeyError_, load_public

from .clock import iso
from .db import DB_ERRORS, node_write_tx

SQL_CHUNK = 500  # host parameters per IN (...) query
# SQLite has one writer. Pushes served by this process's threads queue for it here, each woken the
# moment the one before commits; left to SQLite's busy handler they would poll, sleeping up to 100 ms
# at a time while the write lock sits free. (Other processes still queue through the busy handler;
# PostgreSQL takes a lock per node, so pushes of different nodes run in parallel there.)
SQLITE_WRITERS = threading.Lock()


@dataclass(frozen=True)
class Caps:
    max_body: int = 4 * 1024 * 1024
    max_decompressed: int = 32 * 1024 * 1024
    max_event: int = MAX_EVENT_BYTES

    @classmethod
    def from_settings(cls, settings: dict) -> Caps:
        return cls(settings["max_body_bytes"], settings["max_decompressed_bytes"],
                   settings.get("max_event_bytes", MAX_EVENT_BYTES))


class Refused(Exception):
    """A request central refuses: HTTP status, machine code, English message, optional head."""

    def __init__(self, status: int, code: str, message: str, head: Head | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.head = status, code, message, head


ENVELOPE_STATUS = {"too_large": 413, "bad_signature": 401, "bad_encoding": 400, "bad_json": 400}


def error_payload(exc: Refused, *, node: str | None, request: str | None, now: datetime) -> dict:
    payload = {"error": {"code": exc.code, "message": exc.message}, "node": node, "request": request,
               "central_time": iso(now)}
    if exc.head is not None:
        payload["head"] = wire.head_dict(exc.head.seq, exc.head.hash)
    return payload


def stored_head(conn, node_id: str, *, lock: bool = False) -> Head:
    """Central's head of the node's chain; ``lock``: inside a write transaction, also lock the node's
    row until it ends (PostgreSQL's SELECT ... FOR UPDATE; SQLite's write lock already covers it)."""
    suffix = " FOR UPDATE" if lock and getattr(conn, "dialect", "") == "postgresql" else ""
    row = conn.execute("SELECT head_seq, head_hash FROM nodes WHERE id = ?" + suffix, (node_id,)).fetchone()
    return Head(row["head_seq"], row["head_hash"])


def active_keys(conn, node_id: str) -> list[str]:
    return [r["public_key"] for r in conn.execute(
        "SELECT public_key FROM node_keys WHERE node = ? AND revoked_at IS NULL ORDER BY id DESC", (node_id,))]


def authenticate(conn: sqlite3.Connection, node_id: str | None, body: bytes, signature: str | None,
                 caps: Caps, inflate=None) -> dict:
    """Open a node's sealed request: known, unrevoked node; caps; signature by an active key."""
    row = conn.execute("SELECT status FROM nodes WHERE id = ?", (node_id or "",)).fetchone()
    if row is None or row["status"] == "pending":
        raise Refused(403, "unknown_node", f"no enrolled node {node_id!r}")
    if row["status"] == "revoked":
        raise Refused(403, "revoked", f"node {node_id} has been revoked")
    keys = active_keys(conn, node_id)
    if not keys:
        raise Refused(403, "unknown_node", f"node {node_id} has no active key")
    error = None
    for key_text in keys:
        try:
            payload = open_sealed(body, signature, load_public(key_text), max_body=caps.max_body,
                                  max_decompressed=caps.max_decompressed, inflate=inflate)
        except EnvelopeError as exc:
            error = exc
            if exc.code != "bad_signature":
                break
            continue
        except KeyError_ as exc:  # a corrupt stored key: treat as not matching
            error = EnvelopeError("bad_signature", str(exc))
            continue
        if payload.get("node") != node_id:
            raise Refused(400, "bad_payload", f"payload node {payload.get('node')!r} does not match {node_id!r}")
        if not isinstance(payload.get("nonce"), str) or not payload["nonce"]:
            raise Refused(400, "bad_payload", "payload lacks a nonce")
        return payload
    raise Refused(ENVELOPE_STATUS.get(error.code, 400), error.code, str(error))


def _clock_offset(sent_at, now: datetime) -> int | None:
    if not isinstance(sent_at, str):
        return None
    try:
        sent = datetime.fromisoformat(sent_at)
    except ValueError:
        return None
    if sent.tzinfo is not None:
        return None
    return round((sent - now).total_seconds())


def touch(conn, node_id: str, payload: dict, now: datetime, *, accepted: int = 0) -> None:
    """Record contact: last_contact_at, clock offset and, for pushes, what the node still has to send."""
    offset = _clock_offset(payload.get("sent_at"), now)
    pending = payload.get("pending")
    if "events" in payload and isinstance(pending, int) and not isinstance(pending, bool):
        left = max(pending - accepted, 0)
        oldest = payload.get("oldest_pending_at") if isinstance(payload.get("oldest_pending_at"), str) else None
        conn.execute("UPDATE nodes SET last_contact_at = ?, clock_offset_seconds = COALESCE(?, clock_offset_seconds), "
                     "pending_reported = ?, oldest_pending_at = ? WHERE id = ?",
                     (iso(now), offset, left, oldest if left else None, node_id))
    else:
        conn.execute("UPDATE nodes SET last_contact_at = ?, clock_offset_seconds = COALESCE(?, clock_offset_seconds) "
                     "WHERE id = ?", (iso(now), offset, node_id))


def ingest(conn: sqlite3.Connection, node_id: str | None, body: bytes, signature: str | None, *,
           source: str, now: datetime, caps: Caps) -> tuple[int, dict]:
    """Check and store one signed batch; return (HTTP status, reply payload before sealing)."""
    request = None
    try:
        payload = authenticate(conn, node_id, body, signature, caps)
        request = payload["nonce"]
        events = payload.get("events")
        if not isinstance(events, list):
            raise Refused(400, "bad_payload", "'events' must be a list")
    except Refused as exc:
        return exc.status, error_payload(exc, node=node_id, request=request, now=now)
    return accept(conn, node_id, payload, events, None, body, signature, source=source, now=now, caps=caps)


def accept(conn, node_id: str, payload: dict, events: list, raws: list[bytes] | None, body: bytes,
           signature: str, *, source: str, now: datetime, caps: Caps) -> tuple[int, dict]:
    """Store an authenticated batch of full events (``raws``: their canonical bytes when known)."""
    request = payload["nonce"]
    try:
        known = raws
        raws = []
        for i, event in enumerate(events):
            try:
                check_shape(event)
            except ChainError as exc:
                raise Refused(400, "bad_payload", f"malformed event: {exc}") from None
            if event["node"] != node_id:
                raise Refused(400, "bad_payload", f"event {event['seq']} belongs to node {event['node']!r}")
            raws.append(known[i] if known is not None else canonical_json_of_parsed(event))  # parsed by loads
        # hashing and sizing happen before the write lock is taken: a large event never holds it long
        digests = [hashlib.sha256(raw).hexdigest() for raw in raws]
        with SQLITE_WRITERS if isinstance(conn, sqlite3.Connection) else nullcontext(), node_write_tx(conn, node_id):
            result = _store(conn, node_id, events, raws, body, signature, source, now, caps.max_event, digests)
            touch(conn, node_id, payload, now, accepted=0 if isinstance(result, Refused) else result["accepted"])
        if isinstance(result, Refused):
            raise result
    except Refused as exc:
        return exc.status, error_payload(exc, node=node_id, request=request, now=now)
    result.update(node=node_id, request=request, central_time=iso(now))
    return 200, result


def _store(conn, node_id, events, raws, body, signature, source, now, max_event=MAX_EVENT_BYTES, digests=None):
    """Inside the write transaction: dedupe, detect fork/gap, store, materialise.

    Returns the 200 reply fields or a Refused (returned, not raised, so the fork record
    and the contact time still commit).
    """
    head = stored_head(conn, node_id, lock=True)
    digests = digests or [hashlib.sha256(raw).hexdigest() for raw in raws]
    old = [i for i, e in enumerate(events) if e["seq"] <= head.seq]
    new = [i for i, e in enumerate(events) if e["seq"] > head.seq]
    if old:
        stored = _stored_hashes(conn, node_id, [events[i]["seq"] for i in old])
        for i in old:
            seq = events[i]["seq"]
            if stored.get(seq) != digests[i]:
                _record_fork(conn, node_id, seq, stored.get(seq) or "", digests[i], raws[i], now)
                return Refused(409, "fork", f"event {seq} differs from the one central stored; "
                               "refused and recorded", head)
    if not new:
        return {"head": wire.head_dict(head.seq, head.hash), "accepted": 0, "duplicates": len(old)}
    first = events[new[0]]
    if first["seq"] != head.seq + 1:
        return Refused(409, "gap", f"batch starts at seq {first['seq']}; central holds up to {head.seq}", head)
    if first["prev"] != head.hash:
        _record_fork(conn, node_id, head.seq, head.hash, first["prev"], raws[new[0]], now)
        return Refused(409, "fork", f"event {first['seq']} does not link to central's event {head.seq}; "
                       "refused and recorded", head)
    fresh = [events[i] for i in new]
    try:
        verify_chain(fresh, head, node=node_id, hashes=[digests[i] for i in new])
    except ChainError as exc:
        return Refused(409, "chain", str(exc), head)
    received = iso(now)
    batch_id = conn.execute(
        "INSERT INTO batches(node, signature, body, first_seq, last_seq, received_at, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (node_id, signature, body, fresh[0]["seq"], fresh[-1]["seq"], received, source)).lastrowid
    conn.executemany(
        "INSERT INTO events(node, seq, id, hash, body, batch_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(node_id, events[i]["seq"], events[i]["id"], digests[i], raws[i].decode("utf-8"), batch_id, received)
         for i in new])
    last = new[-1]
    conn.execute("UPDATE nodes SET head_seq = ?, head_hash = ? WHERE id = ?",
                 (events[last]["seq"], digests[last], node_id))
    materialise(conn, node_id, fresh, now, sizes=[len(raws[i]) for i in new], max_event=max_event)
    return {"head": wire.head_dict(events[last]["seq"], digests[last]), "accepted": len(new),
            "duplicates": len(old)}


def _chunks(items: list, size: int = SQL_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _stored_hashes(conn, node_id: str, seqs: list[int]) -> dict[int, str]:
    found = {}
    for part in _chunks(seqs):
        marks = ",".join("?" * len(part))
        for row in conn.execute(f"SELECT seq, hash FROM events WHERE node = ? AND seq IN ({marks})",
                                (node_id, *part)):
            found[row["seq"]] = row["hash"]
    return found


def _record_fork(conn, node_id, seq, stored_hash, offered_hash, offered_raw: bytes, now) -> None:
    conn.execute("INSERT OR IGNORE INTO forks(node, seq, stored_hash, offered_hash, offered_body, at) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 (node_id, seq, stored_hash, offered_hash, offered_raw.decode("utf-8"), iso(now)))


# --- materialisation -------------------------------------------------------------------------
#
# What a node may say about a dossier (docs/SECURITY.md, part 1):
# - ownership: it may create only a dossier whose code carries its own agency code, or an online
#   dossier central handed down to it (online_dossiers); it may change only a dossier whose row
#   it owns. The row is keyed by the event's ``dossier``, never by a code inside ``data``, and the
#   owner column (``node``) is written once, when the row is created.
# - holder: while central holds a dossier (after dossier.handed_up) the only event the node may
#   send for it is the dossier.handed_back it makes when applying central's own hand-back.
# - validity: domain.validation.check_event, the same check the node runs before appending.
# Whatever fails is an anomaly row for a person; the event itself is already stored verbatim
# (the chain stays intact and the node's queue never blocks) and changes no dossier row.

PROJECTED = ("code", "agency", "procedure_code", "procedure_name", "field", "channel", "status", "handler",
             "holder", "received_at", "due_at", "resolved_at", "returned_at", "result_class", "rating",
             "supplement_count", "applicant_name", "name_folded", "id_number", "phone", "updated_at")
COLUMNS = PROJECTED + ("node", "doc")
UPSERT = (f"INSERT INTO dossiers({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
          f"ON CONFLICT(code) DO UPDATE SET "
          + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("code", "node"))
          + " WHERE dossiers.node = excluded.node")


_DOC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # json.dumps without a new encoder each


class Anomaly(ValueError):
    pass


def _handed_down_to(conn, code: str) -> str | None:
    row = conn.execute("SELECT node FROM online_dossiers WHERE code = ?", (code,)).fetchone()
    return row["node"] if row else None


def _may_create(conn, node_id: str, code: str, event: dict) -> None:
    parsed = parse_code(code)
    if parsed is None:
        raise Anomaly(f"{code!r} is not a dossier code; event ignored")
    agency, _day, number = parsed
    if event["type"] == "dossier.registered" and number >= ONLINE_FIRST:
        owner = _handed_down_to(conn, code)
        if owner is not None and owner != node_id:
            raise Anomaly(f"{code}: online dossier handed down to node {owner}, not {node_id}; event ignored")
    if agency != node_id:
        raise Anomaly(f"{code}: node {node_id} may not create a dossier under agency {agency}; event ignored")


def _may_change_held(conn, node_id: str, code: str, state: dict, event: dict) -> None:
    """Central holds the dossier: only the node's application of central's hand-back may pass."""
    if event["type"] != "dossier.handed_back":
        raise Anomaly(f"{code}: central holds this dossier (handed up); {event['type']} from node "
                      f"{node_id} ignored")
    number = len(state.get("handoffs") or []) - 1
    if not conn.execute("SELECT 1 FROM handbacks WHERE code = ? AND node = ? AND handoff_no = ?",
                        (code, node_id, number)).fetchone():
        raise Anomaly(f"{code}: node {node_id} sent a hand-back central never made; event ignored")


def _learn_online_code(conn, node_id: str, code: str, event: dict, now: datetime) -> str | None:
    """A node holds this online code: central's counter moves past it, and a dossier central
    issued under the same code (after a restore from an old backup rolled the counter back) is
    issued again under a fresh code, so no handed-down dossier is lost."""
    agency, day, number = parse_code(code)
    if number < ONLINE_FIRST:
        return None
    conn.execute("INSERT INTO online_counters(agency, day, last) VALUES (?, ?, ?) ON CONFLICT(agency, day) "
                 "DO UPDATE SET last = CASE WHEN excluded.last > online_counters.last THEN excluded.last "
                 "ELSE online_counters.last END", (agency, f"{day:%y%m%d}", number))
    if event["type"] != "dossier.registered":
        return None
    from . import online  # online imports feed and db; imported here to avoid an import cycle
    return online.adopt_node_code(conn, node_id, code, event, now)


def _folds(etype: str) -> bool:
    """Events the dossier reducer folds: dossier.* and the document metadata events (issue 10)."""
    return etype.startswith("dossier.") or etype in ATTACHMENT_TYPES


def materialise(conn, node_id: str, events: list[dict], now: datetime, *,
                sizes: list[int] | None = None, max_event: int = MAX_EVENT_BYTES) -> int:
    """Fold new events into dossier rows; problems become anomalies. Returns the anomaly count."""
    codes = sorted({e["dossier"] for e in events if isinstance(e["dossier"], str) and _folds(e["type"])})
    states: dict[str, dict | None] = {}
    owners: dict[str, str] = {}
    for part in _chunks(codes):
        marks = ",".join("?" * len(part))
        for row in conn.execute(f"SELECT code, node, doc FROM dossiers WHERE code IN ({marks})", part):
            states[row["code"]] = json.loads(row["doc"])
            owners[row["code"]] = row["node"]
    projected: dict[str, dict] = {}
    anomalies = []
    for i, event in enumerate(events):
        code = event["dossier"]
        if not code or not _folds(event["type"]):
            continue
        size = sizes[i] if sizes else None
        try:
            if not isinstance(code, str) or len(code) > 64:
                code = str(code)[:64]
                raise Anomaly(f"{code!r} is not a dossier code; event ignored")
            if size is not None and size > max_event:  # before any other work on an oversized event
                raise Anomaly(f"{code}: event {event['seq']} of {size} bytes is over the {max_event}-byte cap; "
                              "stored, not materialised")
            state = states.get(code)
            if code in owners and owners[code] != node_id:
                raise Anomaly(f"{code}: dossier belongs to node {owners[code]}; event ignored")
            if state is None:
                _may_create(conn, node_id, code, event)
            elif state.get("holder") == "central":
                _may_change_held(conn, node_id, code, state, event)
            new_state = check_event(state, event, size=size, max_bytes=max_event)
            row = project(new_state)
        except (Anomaly, EventInvalid) as exc:
            anomalies.append((node_id, event["seq"], code if isinstance(code, str) else None, str(exc), iso(now)))
            continue
        except Exception as exc:  # noqa: BLE001 - any problem in one record is for a person to review
            anomalies.append((node_id, event["seq"], code, f"{code}: {type(exc).__name__}: {exc}"[:500], iso(now)))
            continue
        if state is None:
            note = _learn_online_code(conn, node_id, code, event, now)
            if note:
                anomalies.append((node_id, event["seq"], code, note, iso(now)))
        states[code] = new_state
        owners[code] = node_id
        projected[code] = row
    rows = [tuple(row[c] for c in PROJECTED) + (node_id, _DOC(states[code])) for code, row in projected.items()]
    try:  # all rows at once; only when one fails, row by row so the others are stored
        conn.execute("SAVEPOINT all_rows")
        conn.executemany(UPSERT, rows)
        conn.execute("RELEASE all_rows")
        rows = []
    except DB_ERRORS:
        conn.execute("ROLLBACK TO all_rows")
        conn.execute("RELEASE all_rows")
    for row in rows:
        try:
            conn.execute("SAVEPOINT one_row")
            conn.execute(UPSERT, row)
            conn.execute("RELEASE one_row")
        except DB_ERRORS as exc:
            conn.execute("ROLLBACK TO one_row")
            conn.execute("RELEASE one_row")
            anomalies.append((node_id, events[-1]["seq"], row[0], f"{row[0]}: row not stored: {exc}", iso(now)))
    if anomalies:
        conn.executemany("INSERT INTO anomalies(node, seq, dossier, message, at) VALUES (?, ?, ?, ?, ?)", anomalies)
    return len(anomalies)
