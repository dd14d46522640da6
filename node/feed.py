"""Applying central's signed feed: reference data and dossiers handed back or down."""
from __future__ import annotations

import logging

from domain.calendar import parse_entries
from domain.catalogue import parse_procedure
from domain.dossier import apply_event
from protocol.events import Head, verify_chain
from protocol.sync import FEED_NODE

from . import events, reference, store, sync_state
from service.sqlite import write_tx

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


def _apply(conn, entry: dict, *, node: str, now_iso: str) -> None:
    kind, data = entry["type"], entry["data"]
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
        _hand_back(conn, entry, node=node)
    elif kind == "dossier.handed_down":
        _hand_down(conn, entry, node=node)
    else:
        log.warning("ignoring feed entry %s of unknown type %s", entry["seq"], kind)


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
        return
    if state["holder"] != "central":
        return  # already applied (e.g. the feed was pulled again after a recovery)
    data["feed_seq"] = entry["seq"]
    _append_and_store(conn, node=node, code=code, type_="dossier.handed_back", data=data,
                      actor=f"central:{entry['actor']}", at=entry["at"], before=state)


def _hand_down(conn, entry, *, node):
    dossier = entry["data"]["dossier"]
    if store.get(conn, dossier["code"]) is not None:
        return
    _append_and_store(conn, node=node, code=dossier["code"], type_="dossier.registered",
                      data={"dossier": dossier, "feed_seq": entry["seq"]}, actor=f"central:{entry['actor']}",
                      at=entry["at"], before=None)
