"""Bringing a node back in line with central after a lost disk or a restore from an old backup.

- A reinstalled node (empty log) enrolled with a recovery code pulls its whole history back
  (`restore_history`) and continues its sequence.
- Its documents' files come back from central afterwards, on first view or in the background
  (node/blob_restore.py).
- A node restored from an old backup has a log that forks from central's: `realign` keeps
  central's events (which are the truth that was already synced), then re-applies the events
  written locally since the restore on top, renumbering any dossier code that collides and
  setting aside (in recovery_log) any change that no longer applies. Nothing is silently lost: nor
  any document file, since every file on disk a dossier names keeps its row and its outbox entry.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from appshell.sqlite import backup_to, write_tx
from domain.codes import format_code, parse_code
from domain.dossier import CREATING_TYPES, ReplayError, apply_event
from protocol import sync as wire
from protocol.canonical import canonical_json
from protocol.events import EMPTY_HEAD, Head, event_hash, verify_chain

from . import events, store, sync_state
from .clock import local_now
from .sync_client import CentralClient, fail

log = logging.getLogger("motcua.recovery")
HISTORY_PAGE = 2000


def fetch_history(client: CentralClient, after: int, head: Head) -> list[dict]:
    """Central's copy of this node's events after ``after``, verified as a chain continuing ``head``."""
    collected = []
    current = head
    while True:
        reply = client.call(wire.HISTORY, {"after": after + len(collected), "limit": HISTORY_PAGE})
        if reply.status != 200:
            raise fail("refused", f"history: HTTP {reply.status} {reply.payload.get('error')}")
        page = reply.payload.get("events") or []
        if not page:
            return collected
        current = verify_chain(page, current, node=client.node_id)
        collected.extend(page)


def _insert_verbatim(conn, event: dict) -> None:
    conn.execute("INSERT INTO events(seq, id, type, dossier, at, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (event["seq"], event["id"], event["type"], event["dossier"], event["at"], event_hash(event),
                  canonical_json(event).decode("utf-8")))


def _rebuild_dossiers(conn, codes: set[str] | None = None) -> list[str]:
    """Replay the log into dossier rows (all, or only ``codes``); returns replay problems."""
    problems = []
    if codes is None:
        conn.execute("DELETE FROM dossiers")
        rows = conn.execute("SELECT body FROM events WHERE dossier IS NOT NULL ORDER BY seq")
    else:
        conn.executemany("DELETE FROM dossiers WHERE code = ?", [(c,) for c in codes])
        rows = []
        for code in sorted(codes):
            rows.extend(conn.execute("SELECT body FROM events WHERE dossier = ? ORDER BY seq", (code,)).fetchall())
    states: dict[str, dict] = {}
    for row in rows:
        event = json.loads(row["body"])
        try:
            states[event["dossier"]] = apply_event(states.get(event["dossier"]), event)
        except ReplayError as exc:
            problems.append(str(exc))
    for state in states.values():
        store.save_row(conn, state, None)
    return problems


def _restore_counters(conn) -> None:
    """Day sequences and register numbers continue after the highest ones in the dossiers."""
    day_max: dict[str, int] = {}
    year_max: dict[str, int] = {}
    for row in conn.execute("SELECT code, received_at, json_extract(doc, '$.created_at') AS created_at, "
                            "json_extract(doc, '$.register_no') AS reg "
                            "FROM dossiers"):
        parsed = parse_code(row["code"])
        if parsed:
            agency, day, seq = parsed
            key = f"day:{agency}:{day:%y%m%d}"
            day_max[key] = max(day_max.get(key, 0), seq)
        stamp = row["received_at"] or row["created_at"]
        if row["reg"] and stamp:
            key = f"register:{stamp[:4]}"
            year_max[key] = max(year_max.get(key, 0), int(row["reg"]))
    for name, value in {**day_max, **year_max}.items():
        conn.execute("INSERT INTO counters(name, value) VALUES (?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)", (name, value))


def restore_history(conn, client: CentralClient) -> int:
    """Reinstalled node: pull the whole history back and rebuild every row. Returns the new head seq."""
    if events.head(conn).seq != 0:
        raise fail("refused", "history restore needs an empty event log", retry=False)
    history = fetch_history(client, 0, EMPTY_HEAD)
    with write_tx(conn):
        for event in history:
            _insert_verbatim(conn, event)
        problems = _rebuild_dossiers(conn)
        _restore_counters(conn)
        head = events.head(conn)
        sync_state.put(conn, acked_seq=head.seq, acked_hash=head.hash)
        conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, 'restored', NULL, ?)",
                     (local_now().isoformat(), f"restored {len(history)} events from central"))
        for problem in problems:
            conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, 'skipped', NULL, ?)",
                         (local_now().isoformat(), problem))
    return head.seq


def _central_head(client: CentralClient) -> Head:
    reply = client.call(wire.PUSH, {"events": [], "pending": 0, "oldest_pending_at": None})
    if reply.status != 200:
        raise fail("refused", f"hello: HTTP {reply.status} {reply.payload.get('error')}")
    return Head(int(reply.payload["head"]["seq"]), reply.payload["head"]["hash"])


def realign(conn, client: CentralClient, data_dir: Path) -> dict:
    """After a restore from an old backup: adopt central's events, re-apply local ones on top."""
    central = _central_head(client)
    acked, acked_hash = sync_state.acked_head(conn)
    known = Head(acked, acked_hash)
    theirs = fetch_history(client, acked, known)
    local_after = events.read(conn, acked)
    fork_at = acked
    for mine, other in zip(local_after, theirs, strict=False):  # the common prefix
        if event_hash(mine) != event_hash(other):
            break
        fork_at = mine["seq"]
    orphans = [e for e in local_after if e["seq"] > fork_at]
    adopted = [e for e in theirs if e["seq"] > fork_at]
    if not adopted and central.seq <= events.head(conn).seq:
        return {"adopted": 0, "reapplied": 0, "renamed": {}, "skipped": []}
    stamp = local_now().strftime("%Y%m%d-%H%M%S")
    backup_to(conn, Path(data_dir) / "backups" / f"pre-recover-{stamp}.db")
    now_iso = local_now().isoformat()
    renamed: dict[str, str] = {}
    skipped: list[str] = []
    with write_tx(conn):
        conn.execute("DELETE FROM events WHERE seq > ?", (fork_at,))
        for event in adopted:
            _insert_verbatim(conn, event)
        touched = {e["dossier"] for e in adopted + orphans if e["dossier"]}
        _rebuild_dossiers(conn, touched)
        _restore_counters(conn)
        for orphan in orphans:
            _reapply(conn, orphan, renamed, skipped, now_iso)
        _restore_counters(conn)
        documents = _keep_documents(conn, data_dir)
        sync_state.put(conn, acked_seq=central.seq, acked_hash=central.hash, last_error=None,
                       last_error_kind=None)
    return {"adopted": len(adopted), "reapplied": len(orphans) - len(skipped), "renamed": renamed,
            "skipped": skipped, "documents": documents}


def _keep_documents(conn, data_dir: Path) -> dict:
    """No document is lost to a rewritten log: every file on disk that a dossier names keeps (or gets
    back) its row and its place in the outbox for central (node/blob_restore.reconcile); files the
    dossiers name that this disk lacks come back from central (`motcua-node blobs restore`)."""
    from .blob_restore import reconcile
    from .blobs import BlobStore
    return reconcile(conn, BlobStore(data_dir))


def _reapply(conn, orphan: dict, renamed: dict, skipped: list, now_iso: str) -> None:
    data = json.loads(json.dumps(orphan["data"]))
    code = renamed.get(orphan["dossier"], orphan["dossier"])
    if orphan["type"] in CREATING_TYPES and store.get(conn, code) is not None:
        agency, day, _ = parse_code(code)
        seq = conn.execute("INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE "
                           "SET value = value + 1 RETURNING value", (f"day:{agency}:{day:%y%m%d}",)).fetchone()[0]
        new_code = format_code(agency, day, seq)
        year = (data["dossier"].get("received_at") or data["dossier"]["created_at"])[:4]
        register_no = conn.execute("INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE "
                                   "SET value = value + 1 RETURNING value", (f"register:{year}",)).fetchone()[0]
        data["dossier"]["code"], data["dossier"]["register_no"] = new_code, register_no
        renamed[orphan["dossier"]] = code = new_code
        conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, 'renamed', ?, ?)",
                     (now_iso, new_code, f"{orphan['dossier']} was given to another dossier before the restore; "
                                         f"renumbered {new_code} — tell the citizen"))
    before = store.get(conn, code)
    probe = {"type": orphan["type"], "data": data, "at": orphan["at"], "dossier": code}
    try:
        apply_event(before, probe)
    except ReplayError as exc:
        skipped.append(str(exc))
        conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, 'skipped', ?, ?)",
                     (now_iso, code, f"{orphan['type']} no longer applies: {exc}; data: "
                                     f"{json.dumps(orphan['data'], ensure_ascii=False)}"))
        return
    event = events.append(conn, node=orphan["node"], type=orphan["type"], dossier=code, data=data,
                          actor=orphan["actor"], at=orphan["at"])
    store.save_row(conn, apply_event(before, event), before)


def resync_feed(conn, client: CentralClient, node_id: str) -> dict:
    """Bring node and central together after central's feed diverged (central restored from an old backup).

    1. push: central re-learns this node's events it lost (the dossiers, the online codes it had
       handed down, so its counter moves past them and a code it reused is re-issued);
    2. re-read central's whole feed and apply it idempotently (node/feed.reapply_all): nothing this
       node holds is removed, every dossier central has for it arrives;
    3. push again what applying it produced.
    """
    from .feed import reapply_all
    from .sync import Outcome, fetch_feed, push
    outcome = Outcome()
    push(conn, client, outcome)
    entries = fetch_feed(client)
    counts = reapply_all(conn, entries, node=node_id, now_iso=local_now().isoformat())
    push(conn, client, outcome)
    sync_state.put(conn, last_error=None, last_error_kind=None, last_success_at=local_now().isoformat())
    return dict(counts, pushed=outcome.pushed)
