"""Applying central's signed feed: reference data and dossiers handed back or down."""
from __future__ import annotations

import logging

from appshell.sqlite import write_tx
from domain.calendar import parse_entries
from domain.catalogue import parse_procedure
from domain.dossier import apply_event
from protocol.events import GENESIS, Head, verify_chain
from protocol.sync import FEED_NODE

from . import events, reference, store, sync_state

log = logging.getLogger("motcua.sync")


class FeedError(ValueError):
    pass


def apply_entries(conn, entries: list[dict], *, node: str, now_iso: str) -> int:
    """Verify the chain from the applied head, then apply every entry in one transaction."""
    if not entries:
        return 0
    with write_tx(conn):
        seq, hash_ = sync_state.feed_head(conn)
        try:
            new_head = verify_chain(entries, Head(seq, hash_), node=FEED_NODE)
        except ValueError as exc:
            raise FeedError(f"feed does not continue the applied chain at {seq}: {exc}") from None
        for entry in entries:
            _apply(conn, entry, node=node, now_iso=now_iso)
        sync_state.put(conn, feed_seq=new_head.seq, feed_hash=new_head.hash)
    return len(entries)


def reapply_all(conn, entries: list[dict], *, node: str, now_iso: str) -> dict:
    """Resync after central's feed diverged (central restored from an older backup).

    ``entries`` is central's whole feed for this node, verified here as a chain from the start.
    Every entry is applied idempotently: reference versions not newer than the installed ones
    are kept, a hand-back already applied is skipped, a dossier handed down that this node
    already holds is skipped (if central gave its code to another dossier, central re-issues
    that one under a fresh code once it has learnt from this node's push that the code is
    taken). Nothing this node holds is removed. Returns counts for the technician.
    """
    counts = {"entries": len(entries), "applied": 0, "skipped": 0}
    with write_tx(conn):
        head = verify_chain(entries, Head(0, GENESIS), node=FEED_NODE) if entries else Head(0, GENESIS)
        for entry in entries:
            if _apply(conn, entry, node=node, now_iso=now_iso, resync=True):
                counts["applied"] += 1
            else:
                counts["skipped"] += 1
        sync_state.put(conn, feed_seq=head.seq, feed_hash=head.hash, feed_diverged=None, feed_diverged_at=None)
        conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, 'rebased', NULL, ?)",
                     (now_iso, f"re-read central's feed ({len(entries)} entries): applied {counts['applied']}, "
                               f"already here {counts['skipped']}"))
    return counts


def _note(conn, now_iso: str, kind: str, dossier: str | None, detail: str) -> None:
    conn.execute("INSERT INTO recovery_log(at, kind, dossier, detail) VALUES (?, ?, ?, ?)",
                 (now_iso, kind, dossier, detail))


def _apply(conn, entry: dict, *, node: str, now_iso: str, resync: bool = False) -> bool:
    """Apply one entry; returns whether it changed anything."""
    kind, data = entry["type"], entry["data"]
    if kind in ("catalogue.published", "calendar.published") and resync:
        ref = kind.split(".")[0]
        if data["version"] <= reference.version(conn, ref):
            return False
    if kind == "catalogue.published":
        version = data["version"]
        current = reference.version(conn, "catalogue")
        if version < current:
            raise FeedError(f"catalogue version {version} is older than installed {current}")
        if version > current:
            reference.install_catalogue(conn, version, [parse_procedure(p) for p in data["procedures"]], now_iso)
            log.info("installed catalogue version %s", version)
    elif kind == "calendar.published":
        version = data["version"]
        current = reference.version(conn, "calendar")
        if version < current:
            raise FeedError(f"calendar version {version} is older than installed {current}")
        if version > current:
            reference.install_calendar(conn, version, parse_entries(data["entries"]), now_iso)
            log.info("installed calendar version %s", version)
    elif kind == "dossier.handed_back":
        return _hand_back(conn, entry, node=node)
    elif kind == "dossier.handed_down":
        return _hand_down(conn, entry, node=node, now_iso=now_iso)
    else:
        log.warning("ignoring feed entry %s of unknown type %s", entry["seq"], kind)
        return False
    return True


def _append_and_store(conn, *, node, code, type_, data, actor, at, before):
    event = events.append(conn, node=node, type=type_, dossier=code, data=data, actor=actor, at=at)
    state = apply_event(before, event)
    store.save_row(conn, state, before)


def _hand_back(conn, entry, *, node):
    data = dict(entry["data"])
    code = data.pop("code")
    state = store.get(conn, code)
    if state is None:
        log.warning("feed entry %s hands back unknown dossier %s; skipped", entry["seq"], code)
        return False
    if state["holder"] != "central":
        return False  # already applied (e.g. the feed was pulled again after a recovery)
    rows = (data.get("set") or {}).get("handoffs")
    if isinstance(rows, list) and len(rows) != len(state.get("handoffs") or []):
        return False  # the hand-back of an earlier hand-up, already applied (feed re-read after a resync)
    data["feed_seq"] = entry["seq"]
    _append_and_store(conn, node=node, code=code, type_="dossier.handed_back", data=data,
                      actor=f"central:{entry['actor']}", at=entry["at"], before=state)
    return True


def _same_dossier(a: dict, b: dict) -> bool:
    keys = ("procedure_code", "applicant", "documents", "created_at")
    return all(a.get(k) == b.get(k) for k in keys)


def _hand_down(conn, entry, *, node, now_iso):
    dossier = entry["data"]["dossier"]
    held = store.get(conn, dossier["code"])
    if held is not None:
        if not _same_dossier(held, dossier):
            # central gave a code this node already holds to another dossier (it was restored from an
            # older backup): never silent — logged here; central re-issues it under a fresh code when
            # it learns from this node's push that the code is taken.
            _note(conn, now_iso, "skipped", dossier["code"],
                  f"feed entry {entry['seq']} hands down another dossier under {dossier['code']}, which this "
                  "node already holds; central re-issues it under a new code")
            log.warning("feed entry %s reuses online code %s; left for central to re-issue", entry["seq"],
                        dossier["code"])
        return False
    _append_and_store(conn, node=node, code=dossier["code"], type_="dossier.registered",
                      data={"dossier": dossier, "feed_seq": entry["seq"]}, actor=f"central:{entry['actor']}",
                      at=entry["at"], before=None)
    return True
