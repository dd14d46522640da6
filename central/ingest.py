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

With the setting ``ingest_workers`` (default one per CPU) the work that needs no database lock
runs in a pool of worker processes (``prepare``), so pushes use every core: inflate, signatures,
the v2 rebuild, shapes, hashes, the chain within the batch, the stored gzip body, and a fold of
the batch into dossier rows from states the worker read itself. The writer, under the lock, does
the checks against central's state (head, gap, fork) and the SQL; it takes the worker's fold only
when the rows it reads again are the ones the worker read and the batch holds no event already
stored, and folds in-process otherwise, with the same code. Central's node lookups and keys are
read in the serving process; nothing a worker returns is stored without those checks. A worker
that dies fails that push with 503 before anything is written; the node sends the batch again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from domain.codes import ONLINE_FIRST, parse_code
from domain.digitisation import ATTACHMENT_TYPES
from domain.dossier import project
from domain.validation import MAX_EVENT_BYTES, EventInvalid, check_event
from protocol import sync as wire
from protocol.canonical import canonical_json_of_parsed, loads
from protocol.envelope import EnvelopeError, open_sealed
from protocol.events import ChainError, Head, check_shape, verify_chain
from protocol.keys import KeyError_, load_public

from .clock import iso
from .db import DB_ERRORS, node_write_tx

log = logging.getLogger("motcua.central")

SQL_CHUNK = 500  # host parameters per IN (...) query
# SQLite has one writer. Pushes served by this process's threads queue for it here, each woken the
# moment the one before commits; left to SQLite's busy handler they would poll, sleeping up to 100 ms
# at a time while the write lock sits free. Whoever takes the lock stores every push then waiting
# (group commit, ``_store_queued``). (Other processes still queue through the busy handler;
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


# U+0000 as canonical JSON writes it (\u0000 after an even run of backslashes: not a literal "\\u0000")
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class Refused(Exception):
    """A request central refuses: HTTP status, machine code, English message, optional head."""

    request: str | None = None  # the request's nonce, once the envelope is open

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


def node_keys(conn, node_id: str | None) -> list[str]:
    """The active keys of a known, unrevoked node, newest first; Refused otherwise."""
    row = conn.execute("SELECT status FROM nodes WHERE id = ?", (node_id or "",)).fetchone()
    if row is None or row["status"] == "pending":
        raise Refused(403, "unknown_node", f"no enrolled node {node_id!r}")
    if row["status"] == "revoked":
        raise Refused(403, "revoked", f"node {node_id} has been revoked")
    keys = active_keys(conn, node_id)
    if not keys:
        raise Refused(403, "unknown_node", f"node {node_id} has no active key")
    return keys


def open_by_keys(keys: list[str], node_id: str, body: bytes, signature: str | None, caps: Caps,
                 inflate=None) -> dict:
    """Caps, then the signature by one of ``keys``, then the payload's node and nonce (no database)."""
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


def authenticate(conn: sqlite3.Connection, node_id: str | None, body: bytes, signature: str | None,
                 caps: Caps, inflate=None) -> dict:
    """Open a node's sealed request: known, unrevoked node; caps; signature by an active key."""
    return open_by_keys(node_keys(conn, node_id), node_id, body, signature, caps, inflate)


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
           source: str, now: datetime, caps: Caps, workers: int = 0, where=None) -> tuple[int, dict]:
    """Check and store one signed batch; return (HTTP status, reply payload before sealing).

    ``workers`` > 0: the checks that need no database run in a pool of that many processes
    (``where``: the database they read dossier states from, for the speculative fold)."""
    return run_ingest(conn, Job(False, node_id, [], body, signature, None, caps, now, where),
                      source=source, workers=workers)


# --- preparing a batch without the database ---------------------------------------------------
#
# Everything that needs no lock — inflate, signatures, the v2 rebuild, shapes, hashing, the chain
# within the batch, the stored gzip body — is ``prepare``: in this process (setting
# ingest_workers = 0) or in a worker process. A worker also folds the batch into dossier states
# read from its own connection (``Fold``, with the rows it read); under the write lock the writer
# reads those rows again and uses the fold only when they are unchanged and the batch holds no
# event central already stored, otherwise it folds in-process as before. Whatever needs state or
# writes (online codes, hand-backs) makes the worker give up the fold (NeedsDatabase). Every check
# is the same code either way, so the stored bytes and rows are the same.

@dataclass
class Job:
    v2: bool
    node: str | None
    keys: list[str]
    body: bytes
    signature: str | None
    batch_signature: str | None
    caps: Caps
    now: datetime
    where: object = None  # the database a worker reads states from for its fold; None: no fold


@dataclass
class Fold:
    codes: list[str]
    snapshot: dict  # code -> (node, doc) as the worker read them
    rows: list[tuple]
    anomalies: list[tuple]


@dataclass
class Batch:
    """An opened batch, checked as far as it can be without the database."""
    payload: dict  # the opened payload; its "events" are not used past this point
    raws: list[bytes]
    digests: list[str]
    seqs: list[int]
    ids: list[str]
    prevs: list[str]
    body: bytes  # what is stored: the gzip body as received (v1) or the rebuilt full payload (v2)
    signature: str
    chained: bool  # each seq one more than the one before, each prev the hash of the event before
    events: list[dict] | None = None  # None after a worker's fold: rebuilt from ``raws`` when needed
    fold: Fold | None = None

    def full_events(self) -> list[dict]:
        if self.events is None:
            self.events = [loads(raw) for raw in self.raws]
        return self.events


class NeedsDatabase(Exception):
    """The fold reached a check that reads or writes the database: the writer does it."""


def prepare(job: Job) -> Batch:
    """Open and check a batch with no database; raises Refused (``request``: the nonce once known)."""
    request, digests = None, []
    try:
        if job.v2:
            from protocol import wire2

            from .ingest_v2 import rebuild
            payload = open_by_keys(job.keys, job.node, job.body, job.signature, job.caps, inflate=wire2.decompress)
            request = payload["nonce"]
            events, known, body, signature = rebuild(job.keys, job.node, payload, job.batch_signature, digests)
        else:
            payload = open_by_keys(job.keys, job.node, job.body, job.signature, job.caps)
            request = payload["nonce"]
            events, known, body, signature = payload.get("events"), None, job.body, job.signature
            if not isinstance(events, list):
                raise Refused(400, "bad_payload", "'events' must be a list")
        raws = []
        for i, event in enumerate(events):
            try:
                check_shape(event)
            except ChainError as exc:
                raise Refused(400, "bad_payload", f"malformed event: {exc}") from None
            if event["node"] != job.node:
                raise Refused(400, "bad_payload", f"event {event['seq']} belongs to node {event['node']!r}")
            raws.append(known[i] if known is not None else canonical_json_of_parsed(event))  # parsed by loads
            if b"\\u0000" in raws[-1] and NUL_ESCAPE.search(raws[-1]):
                raise Refused(400, "bad_payload", f"event {event['seq']} holds a NUL character (U+0000), which "
                                                  "central cannot store on PostgreSQL; refused on either engine")
    except Refused as exc:
        exc.request = request
        raise
    if len(digests) != len(raws):  # (a v2 rebuild hashed them already)
        digests = [hashlib.sha256(raw).hexdigest() for raw in raws]
    seqs = [e["seq"] for e in events]
    prevs = [e["prev"] for e in events]
    chained = all(seqs[k] == seqs[k - 1] + 1 and prevs[k] == digests[k - 1] for k in range(1, len(events)))
    batch = Batch(dict(payload, events=None), raws, digests, seqs, [e["id"] for e in events], prevs, body,
                  signature, chained, events)
    if job.where is not None and chained and events:
        codes = dossier_codes(events)
        try:
            snapshot = _read_states(job.where, codes)
            rows, anomalies = fold(None, job.node, events, snapshot, job.now, sizes=[len(r) for r in raws],
                                   max_event=job.caps.max_event)
        except (NeedsDatabase, OSError, *DB_ERRORS):  # (OSError: the file is not there to read)
            return batch  # the writer folds it, with the database at hand
        batch.fold, batch.events = Fold(codes, snapshot, rows, anomalies), None
    return batch


_READER: list = []  # this worker's reading connection to a SQLite file: [(path, (device, inode)), connection]


def _read_states(where, codes: list[str]) -> dict[str, tuple]:
    """load_states for a worker's fold. On SQLite through one read-only connection the worker keeps
    (opening one, which parses the schema, cost ~0.8 µs per event of a 500-event batch); it is
    opened again when the worker is given another file or the file at that path was replaced (a
    restore), and dropped on any error. A snapshot read is only a guess either way: the writer uses
    the fold only when the rows it reads under its lock are the same. On PostgreSQL a connection per
    batch, closed after it (a kept one would hold restored and test databases open)."""
    from .store.backend import connect_postgres, is_postgres
    if is_postgres(where):
        conn = connect_postgres(where, application_name="motcua-central ingest worker")
        try:
            return load_states(conn, codes)
        finally:
            conn.close()
    try:
        path = str(Path(where).resolve())
        stat = os.stat(path)
        identity = (path, (stat.st_dev, stat.st_ino))
        if _READER and _READER[0] != identity:
            _drop_reader()
        if not _READER:
            conn = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True, timeout=30)
            conn.row_factory = sqlite3.Row
            _READER[:] = [identity, conn]
        return load_states(_READER[1], codes)
    except BaseException:
        _drop_reader()
        raise


def _drop_reader() -> None:
    if _READER:
        _READER.pop(1).close()
        _READER.clear()


def _work(job: Job) -> tuple:
    """A worker process's task: ("ok", Batch) or ("refused", status, code, message, request)."""
    try:
        return ("ok", prepare(job))
    except Refused as exc:
        return ("refused", exc.status, exc.code, exc.message, exc.request)


POOL_TIMEOUT = 120  # seconds a push waits for its worker before it fails (the node sends it again)
_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _gone(pid: int) -> bool:
    """The process is no more: absent, another user's (its pid reused), or a zombie not yet reaped."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc: the signal test above is all there is
        return False
    return state in ("Z", "X")


def _watch(owner: int) -> None:
    """A worker's initializer: exit once the central process that started the pool is gone (its queue
    pipes never reach end-of-file while workers hold both ends, so a killed central would leave them,
    and with them the output pipes they inherited)."""
    def watch():
        while not _gone(owner):
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=watch, name="central-watch", daemon=True).start()


def resolve_workers(value) -> int:
    """The setting ingest_workers as a process count: "auto" is the CPU count."""
    return (os.cpu_count() or 1) if value == "auto" else int(value)


def pool(workers: int) -> ProcessPoolExecutor:
    """This process's pool of ``workers`` preparing processes (forkserver: no copy of our threads)."""
    with _POOLS_LOCK:
        if workers not in _POOLS:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["central.ingest", "central.ingest_v2"])
            _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=context, initializer=_watch,
                                                  initargs=(os.getpid(),))
        return _POOLS[workers]


def _ready() -> int:
    return os.getpid()


def warm(workers: int) -> None:
    """Start the pool's processes now (``run`` does it), not on the first pushes."""
    executor = pool(workers)
    for future in [executor.submit(_ready) for _ in range(workers)]:
        future.result(timeout=POOL_TIMEOUT)


def warm_or_log(workers: int) -> None:
    """``warm`` for a background thread: a pool that cannot start is logged (pushes then fail with 503
    and say so, until central is fixed), never a silent dead thread."""
    try:
        warm(workers)
    except Exception as exc:  # noqa: BLE001 - logged loudly; each push reports its own failure
        log.error("ingest workers did not start: %s: %s", type(exc).__name__, exc)


def _drop_pool(workers: int, broken: ProcessPoolExecutor) -> None:
    with _POOLS_LOCK:
        if _POOLS.get(workers) is broken:
            del _POOLS[workers]
    broken.shutdown(wait=False, cancel_futures=True)


def _prepare_in_pool(workers: int, job: Job) -> Batch:
    executor = pool(workers)
    try:
        outcome = executor.submit(_work, job).result(timeout=POOL_TIMEOUT)
    except (BrokenProcessPool, RuntimeError, TimeoutError) as exc:
        # a worker died (or the pool was shut down under us): nothing was stored; the next push
        # gets a fresh pool and the node sends this batch again
        if isinstance(exc, BrokenProcessPool):
            _drop_pool(workers, executor)
        log.warning("push from %s not checked: ingest worker failed (%s)", job.node, type(exc).__name__)
        raise Refused(503, "unavailable", "central could not check this batch just now; send it again") from None
    if outcome[0] == "refused":
        exc = Refused(*outcome[1:4])
        exc.request = outcome[4]
        raise exc
    return outcome[1]


def run_ingest(conn, job: Job, *, source: str, workers: int = 0) -> tuple[int, dict]:
    """Authenticate ``job``'s node, prepare the batch (in the pool when ``workers``), store it."""
    try:
        job.keys = node_keys(conn, job.node)
        if workers:
            batch = _prepare_in_pool(workers, job)
        else:
            job.where = None  # in-process: the writer folds, as it reads the states anyway
            batch = prepare(job)
    except Refused as exc:
        return exc.status, error_payload(exc, node=job.node, request=exc.request, now=job.now)
    return store_batch(conn, job.node, batch, source=source, now=job.now, caps=job.caps)


class _Push:
    """One push waiting for SQLite's writer (``_commit_group``)."""
    __slots__ = ("node", "batch", "source", "now", "max_event", "result", "error", "done")

    def __init__(self, node, batch, source, now, max_event):
        self.node, self.batch, self.source, self.now, self.max_event = node, batch, source, now, max_event
        self.result, self.error, self.done = None, None, False


GROUP_MAX = 8  # pushes committed together at most
_WAITING: dict[str, list[_Push]] = {}  # database file -> this process's pushes queued for it, in arrival order
_WAITING_LOCK = threading.Lock()


def _store_one(conn, push: _Push) -> None:
    push.result = _store(conn, push.node, push.batch, push.source, push.now, push.max_event)
    touch(conn, push.node, push.batch.payload, push.now,
          accepted=0 if isinstance(push.result, Refused) else push.result["accepted"])


def _commit_group(conn, group: list[_Push]) -> None:
    """Store ``group``'s pushes in one transaction, each in a savepoint of its own: one that fails is
    rolled back alone (its push gets the error); the others commit together, with one fsync."""
    try:
        with node_write_tx(conn, group[0].node):
            for push in group:
                conn.execute("SAVEPOINT push")
                try:
                    _store_one(conn, push)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO push")
                    push.error, push.result = exc, None
                conn.execute("RELEASE push")
    except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the group is stored
        if conn.in_transaction:  # (a failed COMMIT leaves the transaction open)
            conn.rollback()
        for push in group:
            if push.error is None:
                push.error, push.result = exc, None
    finally:
        for push in group:
            push.done = True


def _store_queued(conn, push: _Push) -> None:
    """SQLite: queue for the writer; whoever takes it stores the pushes waiting then, in arrival order
    (up to GROUP_MAX at a time, until its own is done), in one transaction on its connection. Each push
    is the same checks and rows as alone, in its own savepoint, and its reply waits for the COMMIT
    (synchronous=FULL: an acknowledged push survives a power cut); pushes that queued while the last
    commit wrote and synced the WAL share the next one, and the pages they both touch (indexes, the
    full-text table, the nodes table) are written once."""
    database = conn.execute("PRAGMA database_list").fetchone()[2]  # (a process may serve several, in tests)
    with _WAITING_LOCK:
        waiting = _WAITING.setdefault(database, [])
        waiting.append(push)
    with SQLITE_WRITERS:
        while not push.done:
            with _WAITING_LOCK:
                group = waiting[:GROUP_MAX]
                del waiting[:len(group)]
            _commit_group(conn, group)
    if push.error is not None:
        raise push.error


def store_batch(conn, node_id: str, batch: Batch, *, source: str, now: datetime, caps: Caps) -> tuple[int, dict]:
    """Under the write lock: the checks against central's state, then the rows, in one transaction."""
    request = batch.payload["nonce"]
    push = _Push(node_id, batch, source, now, caps.max_event)
    if isinstance(conn, sqlite3.Connection):
        _store_queued(conn, push)
    else:
        with node_write_tx(conn, node_id):
            _store_one(conn, push)
    result = push.result
    if isinstance(result, Refused):
        return result.status, error_payload(result, node=node_id, request=request, now=now)
    result.update(node=node_id, request=request, central_time=iso(now))
    return 200, result


def _store(conn, node_id, batch: Batch, source, now, max_event=MAX_EVENT_BYTES):
    """Inside the write transaction: dedupe, detect fork/gap, store, materialise.

    Returns the 200 reply fields or a Refused (returned, not raised, so the fork record
    and the contact time still commit).
    """
    head = stored_head(conn, node_id, lock=True)
    seqs, raws, digests = batch.seqs, batch.raws, batch.digests
    old = [i for i, seq in enumerate(seqs) if seq <= head.seq]
    new = [i for i, seq in enumerate(seqs) if seq > head.seq]
    if old:
        stored = _stored_hashes(conn, node_id, [seqs[i] for i in old])
        for i in old:
            seq = seqs[i]
            if stored.get(seq) != digests[i]:
                _record_fork(conn, node_id, seq, stored.get(seq) or "", digests[i], raws[i], now)
                return Refused(409, "fork", f"event {seq} differs from the one central stored; "
                               "refused and recorded", head)
    if not new:
        return {"head": wire.head_dict(head.seq, head.hash), "accepted": 0, "duplicates": len(old)}
    first = new[0]
    if seqs[first] != head.seq + 1:
        return Refused(409, "gap", f"batch starts at seq {seqs[first]}; central holds up to {head.seq}", head)
    if batch.prevs[first] != head.hash:
        _record_fork(conn, node_id, head.seq, head.hash, batch.prevs[first], raws[first], now)
        return Refused(409, "fork", f"event {seqs[first]} does not link to central's event {head.seq}; "
                       "refused and recorded", head)
    if not batch.chained:  # (a chained batch continues from its first new event, just checked)
        events = batch.full_events()
        try:
            verify_chain([events[i] for i in new], head, node=node_id, hashes=[digests[i] for i in new])
        except ChainError as exc:
            return Refused(409, "chain", str(exc), head)
    received = iso(now)
    last = new[-1]
    batch_id = conn.execute(
        "INSERT INTO batches(node, signature, body, first_seq, last_seq, received_at, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (node_id, batch.signature, batch.body, seqs[first], seqs[last], received, source)).lastrowid
    if isinstance(conn, sqlite3.Connection):  # the UTF-8 bytes as they are, stored as TEXT: no decode and re-encode
        conn.executemany(INSERT_EVENT_BYTES,
                         [(node_id, seqs[i], batch.ids[i], digests[i], raws[i], batch_id, received) for i in new])
    else:
        conn.executemany(INSERT_EVENT, [(node_id, seqs[i], batch.ids[i], digests[i], raws[i].decode("utf-8"), batch_id,
                                         received) for i in new])
    conn.execute("UPDATE nodes SET head_seq = ?, head_hash = ? WHERE id = ?", (seqs[last], digests[last], node_id))
    sizes = [len(raws[i]) for i in new]
    if batch.fold is not None and not old and load_states(conn, batch.fold.codes) == batch.fold.snapshot:
        write_rows(conn, node_id, batch.fold.rows, batch.fold.anomalies, seqs[last], now,
                   existing=set(batch.fold.snapshot))
    else:
        events = batch.full_events()
        materialise(conn, node_id, [events[i] for i in new], now, sizes=sizes, max_event=max_event)
    return {"head": wire.head_dict(seqs[last], digests[last]), "accepted": len(new), "duplicates": len(old)}


INSERT_EVENT = "INSERT INTO events(node, seq, id, hash, body, batch_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_EVENT_BYTES = ("INSERT INTO events(node, seq, id, hash, body, batch_id, received_at) "
                      "VALUES (?, ?, ?, ?, CAST(? AS TEXT), ?, ?)")  # SQLite: a body bound as UTF-8 bytes


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

INSERT = UPSERT[:UPSERT.index(" ON CONFLICT")]
UPDATE = (f"UPDATE dossiers SET {', '.join(f'{c} = ?' for c in COLUMNS if c not in ('code', 'node'))} "
          "WHERE code = ? AND node = ?")  # (the upsert's update: the owner is written once)


def index_names(conn: sqlite3.Connection, after_id: int) -> None:
    """SQLite: put the names of the dossier rows with an id over ``after_id`` (those inserted since
    ``max(id)`` was ``after_id``: a new row's id is always one more than the largest) into the
    full-text index. Central's SQLite schema has no insert trigger for it (migration 0008), so
    whatever inserts dossier rows calls this after."""
    conn.execute("INSERT INTO dossiers_fts(rowid, name_folded) SELECT id, name_folded FROM dossiers WHERE id > ?",
                 (after_id,))


_JSON_DOC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # json.dumps without a new encoder each
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _DOC(state: dict) -> str:
    """A state's stored document: JSON as ``json.dumps(state, ensure_ascii=False, separators=(",", ":"))``
    writes it, made with orjson (~1 µs against ~15 for a bench dossier). For the values a state holds
    (parsed JSON: no floats, text, whole numbers, lists, objects with text keys) the two give the same
    text, character for character (tests/central/test_fast_rebuild.py); anything orjson refuses or would
    write its own way (an integer past 64 bits, a lone surrogate, a subclass or a non-JSON type) goes
    to json, which writes or refuses it as before."""
    try:
        return orjson.dumps(state, option=_ORJSON_STRICT).decode("utf-8")
    except orjson.JSONEncodeError:
        return _JSON_DOC(state)


# The projected columns domain.dossier.project reads from the applicant; every other one is the state's
# field of the same name (tests/central/test_fold.py holds project to that).
APPLICANT_COLUMNS = frozenset(("applicant_name", "name_folded", "id_number", "phone"))
_SOURCES = tuple((c, c not in APPLICANT_COLUMNS) for c in PROJECTED)  # (column, taken from the state)


class Anomaly(ValueError):
    pass


def _db(conn):
    """The connection a check needs; in a worker's fold (None) the writer does that check."""
    if conn is None:
        raise NeedsDatabase
    return conn


def _handed_down_to(conn, code: str) -> str | None:
    row = _db(conn).execute("SELECT node FROM online_dossiers WHERE code = ?", (code,)).fetchone()
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
    if not _db(conn).execute("SELECT 1 FROM handbacks WHERE code = ? AND node = ? AND handoff_no = ?",
                        (code, node_id, number)).fetchone():
        raise Anomaly(f"{code}: node {node_id} sent a hand-back central never made; event ignored")


def _learn_online_code(conn, node_id: str, code: str, event: dict, now: datetime) -> str | None:
    """A node holds this online code: central's counter moves past it, and a dossier central
    issued under the same code (after a restore from an old backup rolled the counter back) is
    issued again under a fresh code, so no handed-down dossier is lost."""
    agency, day, number = parse_code(code)
    if number < ONLINE_FIRST:
        return None
    _db(conn).execute("INSERT INTO online_counters(agency, day, last) VALUES (?, ?, ?) ON CONFLICT(agency, day) "
                 "DO UPDATE SET last = CASE WHEN excluded.last > online_counters.last THEN excluded.last "
                 "ELSE online_counters.last END", (agency, f"{day:%y%m%d}", number))
    if event["type"] != "dossier.registered":
        return None
    from . import online  # online imports feed and db; imported here to avoid an import cycle
    return online.adopt_node_code(conn, node_id, code, event, now)


def _folds(etype: str) -> bool:
    """Events the dossier reducer folds: dossier.* and the document metadata events (issue 10)."""
    return etype.startswith("dossier.") or etype in ATTACHMENT_TYPES


def dossier_codes(events: list[dict]) -> list[str]:
    """The dossiers a batch's events fold into, sorted."""
    return sorted({e["dossier"] for e in events if isinstance(e["dossier"], str) and _folds(e["type"])})


def load_states(conn, codes: list[str]) -> dict[str, tuple]:
    """code -> (owner node, stored doc text) of the dossiers that exist."""
    found = {}
    for part in _chunks(codes):
        marks = ",".join("?" * len(part))
        for row in conn.execute(f"SELECT code, node, doc FROM dossiers WHERE code IN ({marks})", part):
            found[row["code"]] = (row["node"], row["doc"])
    return found


def materialise(conn, node_id: str, events: list[dict], now: datetime, *,
                sizes: list[int] | None = None, max_event: int = MAX_EVENT_BYTES) -> int:
    """Fold new events into dossier rows; problems become anomalies. Returns the anomaly count."""
    snapshot = load_states(conn, dossier_codes(events))
    rows, anomalies = fold(conn, node_id, events, snapshot, now, sizes=sizes, max_event=max_event)
    return write_rows(conn, node_id, rows, anomalies, events[-1]["seq"], now, existing=set(snapshot))


def fold(conn, node_id: str, events: list[dict], snapshot: dict[str, tuple], now: datetime, *,
         sizes: list[int] | None = None, max_event: int = MAX_EVENT_BYTES) -> tuple[list[tuple], list[tuple]]:
    """The dossier rows and anomalies ``events`` make from the stored ``snapshot`` (load_states).

    ``conn`` None (a worker process): a check that needs the database raises NeedsDatabase. The fold
    owns ``events`` (parsed for it; nobody keeps or changes them afterwards), so states share their
    values (check_event's ``owned``) and neither is changed in place."""
    states: dict[str, dict | None] = {code: json.loads(doc) for code, (_, doc) in snapshot.items()}
    owners: dict[str, str] = {code: owner for code, (owner, _) in snapshot.items()}
    # code -> (project() of a state of this fold, that state's applicant). An event leaves every field
    # of its state in place (it only replaces some, never removes one) and replaces the applicant
    # only with a new object, so when the applicant is still the same object, project() of the new
    # state cannot fail and gives that row with the state's own fields: the name is folded once per
    # dossier and applicant, not once per event.
    projected: dict[str, tuple[dict, object]] = {}
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
            new_state = check_event(state, event, size=size, max_bytes=max_event, owned=True)
            last = projected.get(code)
            if last is None or new_state.get("applicant") is not last[1]:
                last = (project(new_state), new_state.get("applicant"))
        except NeedsDatabase:
            raise
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
        projected[code] = last
    rows = []
    for code, (row, _) in projected.items():
        state = states[code]
        rows.append(tuple(state[c] if own else row[c] for c, own in _SOURCES)
                    + (node_id, _DOC(state)))
    return rows, anomalies


def write_rows(conn, node_id: str, rows: list[tuple], anomalies: list[tuple], last_seq: int, now: datetime,
               existing: set[str] | None = None) -> int:
    """Upsert the folded dossier rows and record the anomalies; returns the anomaly count.

    ``existing``: the codes of those rows that are stored now (read under this transaction's lock).
    On SQLite the other rows are then INSERTed and these UPDATEd (an upsert costs ~10 us more per
    row), and the names of the rows this call inserts go into the full-text index in one statement:
    central's SQLite schema has no insert trigger for it (migration 0008: FTS5 flushed its pending
    terms at every row a trigger inserted, ~25 us per dossier). Should the split meet a row it did not
    expect (any database error), everything is done again row by row with the upsert."""
    anomalies = list(anomalies)
    sqlite = isinstance(conn, sqlite3.Connection)
    top = conn.execute("SELECT coalesce(max(id), 0) FROM dossiers").fetchone()[0] if sqlite else 0
    try:  # all rows at once; only when one fails, row by row so the others are stored
        conn.execute("SAVEPOINT all_rows")
        if sqlite and existing is not None:
            conn.executemany(INSERT, [row for row in rows if row[0] not in existing])
            conn.executemany(UPDATE, [row[1:-2] + row[-1:] + row[:1] + row[-2:-1] for row in rows
                                      if row[0] in existing])
        else:
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
            anomalies.append((node_id, last_seq, row[0], f"{row[0]}: row not stored: {exc}", iso(now)))
    if sqlite:
        index_names(conn, top)
    if anomalies:
        conn.executemany("INSERT INTO anomalies(node, seq, dossier, message, at) VALUES (?, ?, ?, ?, ?)", anomalies)
    return len(anomalies)
