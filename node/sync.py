"""Pushing the node's event log to central and pulling central's feed back.

State machine of the worker (see README "Sync"):

    idle --(new event | timer | "sync now")--> hello --> pushing --> pulling --> idle
      ^                                          |          |           |
      +--------- backoff (full jitter, capped) <-+----------+-----------+  on any failure
    fork/revoked/not enrolled: stays in backoff and shows the problem until a technician acts.
    A batch cut on its way (a reset mid-upload) goes again halved, straight from backoff to pushing:
    no hello first (SyncWorker.after_failure).
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from appshell.sqlite import connect
from protocol import sync as wire
from protocol.events import GENESIS, event_hash
from protocol.keys import load_private, load_public

from . import events, sync_state
from .clock import CORRECTION_KEY, local_now
from .feed import FeedError, apply_entries
from .sync_client import MESSAGES, CentralClient, CutUpload, SyncError, fail

log = logging.getLogger("motcua.sync")
KEY_NAME = "node.key"
MIN_BATCH, START_BATCH, MAX_BATCH = 1, 200, 2000
# a batch whose whole body had left when its exchange failed may be stored at central (only the reply
# was lost): from this size on, the next attempt asks central's head (a hello, ~1 kB both ways) before
# sending it again; a smaller one is sent again at once (halved), central counting what it holds as
# duplicates
ASK_HEAD_BYTES = 32 * 1024
RESEND_AT_ONCE = ("dropped", "timeout", "too_large")  # failures after which a batch goes again with no hello
FEED_LIMIT = 500


@dataclass
class Outcome:
    pushed: int = 0
    duplicates: int = 0
    applied: int = 0
    rounds: int = 0
    pending: int = 0
    feed_head: tuple | None = None  # (seq, hash) of central's feed for this node, from a push reply
    notes: list = field(default_factory=list)


def make_client(conn, data_dir: Path, settings: dict, session=None) -> CentralClient:
    values = sync_state.get_all(conn)
    if not values.get("central_public_key") or not values.get("central_url"):
        raise fail("not_enrolled", "node is not enrolled with central", retry=False)
    return CentralClient(values["central_url"], values["node_id"], load_private(Path(data_dir) / KEY_NAME),
                         load_public(values["central_public_key"]),
                         connect_timeout=settings["sync_connect_timeout"],
                         read_timeout=settings["sync_read_timeout"], session=session)


def _check_reply(reply, path) -> dict:
    payload = reply.payload
    if reply.status == 200:
        return payload
    code = (payload.get("error") or {}).get("code", "refused")
    detail = f"{path}: HTTP {reply.status} {code}: {(payload.get('error') or {}).get('message', '')}"
    if code in ("fork", "revoked", "unknown_node", "bad_signature"):
        raise fail(code, detail, retry=code != "revoked", reply=payload)
    if reply.status == 413 or code == "too_large":
        raise fail("too_large", detail, reply=payload)
    if reply.status >= 500:
        raise fail("server", detail, reply=payload)
    raise fail("refused", detail, reply=payload)


def _adopt_head(conn, head: dict) -> None:
    """Take central's signed head as acknowledged, after checking it is a prefix of our chain."""
    seq, hash_ = int(head["seq"]), head["hash"]
    local = events.head(conn)
    if seq > local.seq:
        raise fail("fork", f"central holds {seq} events, this node only {local.seq}", retry=False)
    if seq > 0:
        row = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        if row is None or row["hash"] != hash_:
            raise fail("fork", f"central's event {seq} differs from this node's", retry=False)
    sync_state.put(conn, acked_seq=seq, acked_hash=hash_ if seq else GENESIS)


def record_clock(conn, offset: int, warning_seconds: int | None) -> None:
    """Central's signed reply measured this PC's clock: past the warning threshold, legal times
    (codes, received_at, due times) are corrected by it (node/clock.legal_time)."""
    values = {"clock_offset_seconds": offset}
    if warning_seconds is not None:
        values[CORRECTION_KEY] = offset if abs(offset) > warning_seconds else None
    sync_state.put(conn, **values)


WIRE_FALLBACK = ("bad_encoding", "bad_batch_signature", "bad_payload")


def central_wire(conn, client: CentralClient) -> None:
    """Remember which wire format central said it prefers (nothing said: a central older than v2),
    and whether it keeps the part of a cut push (``resume``: the node then sends only the rest)."""
    said = client.wire or {}
    prefers = 2 if said.get("prefers") == 2 and 2 in (said.get("accepts") or []) else 1
    resume = int(said.get("resume") is True)
    if sync_state.get(conn, "central_wire", 1) != prefers or sync_state.get(conn, "central_resume", 0) != resume:
        sync_state.put(conn, central_wire=prefers, central_resume=resume)


def _resume(conn, client: CentralClient, cut: CutUpload, acked: int) -> tuple:
    """(reply, ask_head): the reply to the cut push ``cut`` once central has its rest, else None: it
    no longer starts at central's head, or central holds none of it (the batch then goes again).
    ``ask_head``: central holds none of it, yet its whole body of ASK_HEAD_BYTES or more had left
    this PC: central may hold the batch itself (only its reply was lost), so a hello goes first."""
    if cut.first_seq != acked + 1 or not sync_state.get(conn, "central_resume"):
        return None, False
    reply = client.resume(cut)
    if reply is None:
        return None, cut.sent_whole and len(cut.body) >= ASK_HEAD_BYTES
    log.info("resumed a cut push of %d events", cut.count)
    return reply, False


def push(conn, client: CentralClient, outcome: Outcome, clock_warning_seconds: int | None = None, *,
         hello: bool = True, wire_mode: str = "auto", link_up: bool = True, cut: CutUpload | None = None) -> None:
    """Send until caught up. ``hello`` first sends an empty batch (a heartbeat: it learns central's
    head and feed head, and tells central the pending count); without it, only pending events go.

    ``cut``: a push cut on its way in an earlier attempt. When central keeps such parts, only the
    rest of it goes (CentralClient.resume); otherwise it goes again as a batch.

    A batch cut or timed out halves the batch size, but only when the link was known to work
    (``link_up``: the last exchange succeeded, or one did earlier in this push) and central cannot
    resume it: a retry on a link that is simply down must not shrink the batch again and again."""
    batch = sync_state.get(conn, "batch_size", START_BATCH)
    v2_failed = False
    events_after = None if hello else True
    while True:
        acked, _ = sync_state.acked_head(conn)
        local = events.head(conn)
        pending = local.seq - acked
        if events_after is not None and pending <= 0:
            break
        batch_events = [] if events_after is None else events.read(conn, acked, limit=batch)
        oldest = batch_events[0]["at"] if batch_events else None
        v2 = bool(batch_events) and wire_mode == "auto" and not v2_failed and sync_state.get(conn, "central_wire") == 2
        try:
            reply = None
            if cut is not None and batch_events:
                reply, ask_head = _resume(conn, client, cut, acked)
                if reply is not None:
                    v2 = cut.v2  # the format the cut push went in
                cut = None
                if ask_head:
                    events_after = None  # a hello learns central's head before the batch goes again
                    continue
            if reply is None:
                reply = client.call(wire.PUSH, {"events": batch_events, "pending": max(pending - len(batch_events), 0),
                                                "oldest_pending_at": oldest}, v2=v2)
            code = (reply.payload.get("error") or {}).get("code")
            if v2 and reply.status in (400, 401) and code in WIRE_FALLBACK:
                # a central older than v2 (or one that could not rebuild the batch): this batch again in v1
                log.warning("central refused a wire v2 batch (%s); falling back to v1", code)
                v2_failed = True
                sync_state.put(conn, central_wire=1)
                continue
            if reply.status == 409 and code == "gap":
                _adopt_head(conn, reply.payload["head"])  # central is behind us: resend from its head
                events_after = True
                continue
            payload = _check_reply(reply, wire.PUSH)
        except SyncError as exc:
            exc.batch_events = len(batch_events)
            resumable = exc.upload is not None and exc.kind != "too_large" and sync_state.get(conn, "central_resume")
            exc.resumable = bool(resumable)
            if exc.kind in ("too_large", "timeout", "dropped") and batch_events and (link_up or outcome.rounds) \
                    and not resumable:
                batch = max(MIN_BATCH, batch // 2)
                sync_state.put(conn, batch_size=batch)
            raise
        if not v2_failed:
            central_wire(conn, client)
        if batch_events:
            sync_state.put(conn, last_push_wire=2 if v2 else 1)  # which format the last batch went in
        record_clock(conn, reply.clock_offset_seconds, clock_warning_seconds)
        _adopt_head(conn, payload["head"])
        said = payload.get("feed_head")
        if isinstance(said, dict) and isinstance(said.get("seq"), int) and isinstance(said.get("hash"), str):
            outcome.feed_head = (said["seq"], said["hash"])
        outcome.rounds += 1
        if batch_events:
            outcome.pushed += int(payload.get("accepted", 0))
            outcome.duplicates += int(payload.get("duplicates", 0))
            batch = min(MAX_BATCH, batch * 2)
            sync_state.put(conn, batch_size=batch)
        events_after = True
    outcome.pending = 0


def _diverged(conn, detail: str):
    """Central's feed no longer continues what this node applied: loud until resync-feed runs."""
    if not sync_state.get(conn, "feed_diverged"):
        sync_state.put(conn, feed_diverged=detail[:300], feed_diverged_at=local_now().isoformat())
    # kind "feed" like any refused feed (logs, tests and tools key on it); the message says what to run
    return SyncError("feed", MESSAGES["feed_diverged"], detail, retry=False)


def _applied_hash_at_central(client: CentralClient, payload: dict, after: int) -> str | None:
    if "after_hash" in payload:
        return payload["after_hash"]
    # a central older than the after_hash field: read its entry ``after`` itself
    reply = client.call(wire.FEED, {"after": after - 1, "limit": 1})
    entries = _check_reply(reply, wire.FEED).get("entries") or []
    if not entries or entries[0].get("seq") != after:
        return None
    return event_hash(entries[0])


def pull(conn, client: CentralClient, outcome: Outcome, node_id: str) -> None:
    if sync_state.get(conn, "feed_diverged"):
        raise SyncError("feed", MESSAGES["feed_diverged"], "central's feed diverged earlier; run motcua-node "
                        "resync-feed", retry=False)
    while True:
        after, applied_hash = sync_state.feed_head(conn)
        reply = client.call(wire.FEED, {"after": after, "limit": FEED_LIMIT})
        payload = _check_reply(reply, wire.FEED)
        entries = payload.get("entries") or []
        head = payload.get("head") or {}
        if int(head.get("seq", 0)) < after:
            raise _diverged(conn, f"central's feed head {head.get('seq')} is behind the applied {after} "
                                  "(central restored from an older backup?)")
        if after > 0 and _applied_hash_at_central(client, payload, after) != applied_hash:
            raise _diverged(conn, f"central's feed entry {after} differs from the one this node applied "
                                  "(central restored from an older backup?)")
        try:
            outcome.applied += apply_entries(conn, entries, node=node_id, now_iso=local_now().isoformat())
        except (FeedError, KeyError, TypeError, ValueError) as exc:
            raise fail("feed", f"feed refused: {exc}") from None
        if len(entries) < FEED_LIMIT:
            return


def fetch_feed(client: CentralClient) -> list[dict]:
    """Central's whole feed for this node, page by page (verified by the caller)."""
    collected: list[dict] = []
    while True:
        payload = _check_reply(client.call(wire.FEED, {"after": len(collected), "limit": FEED_LIMIT}), wire.FEED)
        page = payload.get("entries") or []
        collected.extend(page)
        if len(page) < FEED_LIMIT:
            return collected


def pending_count(data_dir: Path) -> int:
    conn = connect(Path(data_dir) / "motcua-node.db")
    try:
        return max(events.head(conn).seq - sync_state.get(conn, "acked_seq", 0), 0)
    finally:
        conn.close()


def sync_once(data_dir: Path, settings: dict, session=None, *, heartbeat: bool = True,
              after_failure: bool = False, cut: CutUpload | None = None) -> Outcome:
    """One cycle: (heartbeat) push until caught up, pull the feed when central has more than applied.

    ``heartbeat`` False (the worker, woken by new events between heartbeats, or retrying a cut
    batch): no hello, only the pending events. ``after_failure``: the previous cycle failed (see
    push's ``link_up``). ``cut``: a push cut earlier, to resume (see push). Records success or the error.
    """
    conn = connect(Path(data_dir) / "motcua-node.db")
    outcome = Outcome()
    try:
        sync_state.put(conn, last_attempt_at=local_now().isoformat())
        try:
            client = make_client(conn, data_dir, settings, session)
            hello = heartbeat or sync_state.get(conn, "acked_seq") is None
            push(conn, client, outcome, settings["clock_warning_minutes"] * 60, hello=hello,
                 wire_mode=settings.get("sync_wire", "auto"), link_up=not after_failure, cut=cut)
            if outcome.feed_head is None or outcome.feed_head != sync_state.feed_head(conn) \
                    or sync_state.get(conn, "feed_diverged"):
                pull(conn, client, outcome, sync_state.get(conn, "node_id"))
        except SyncError as exc:
            exc.exchanges = outcome.rounds  # exchanges that succeeded before this one failed
            sync_state.put(conn, last_error=exc.message, last_error_at=local_now().isoformat(),
                           last_error_kind=exc.kind)
            raise
        sync_state.put(conn, last_success_at=local_now().isoformat(), last_error=None, last_error_kind=None)
        return outcome
    finally:
        conn.close()


class RateLimitedLog:
    """Log a repeated failure once per interval, a new kind of failure at once."""

    def __init__(self, interval: float = 300):
        self.interval, self.last_kind, self.last_at = interval, None, 0.0

    def __call__(self, exc: SyncError) -> None:
        now = time.monotonic()
        if exc.kind != self.last_kind or now - self.last_at >= self.interval:
            log.warning("sync failed: %s", exc)
            self.last_kind, self.last_at = exc.kind, now


class SyncWorker:
    """A daemon thread: woken by new events, "sync now" and a timer; backs off with full jitter."""

    def __init__(self, data_dir: Path, settings: dict, base_delay: float = 1.0):
        self.data_dir, self.settings = Path(data_dir), settings
        self.base_delay, self.cap = base_delay, float(settings["sync_backoff_cap_seconds"])
        self.interval = float(settings["sync_interval_seconds"])
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="motcua-sync", daemon=True)
        self.failures = 0
        self.log_failure = RateLimitedLog()
        self.heartbeat = float(settings.get("sync_heartbeat_seconds", 900))
        self.last_contact: float | None = None  # monotonic time of the last successful cycle
        self._forced = False
        self.probe = False  # the next cycle starts with a hello (see after_failure)
        self.cut: CutUpload | None = None  # a push cut on its way that central keeps part of: resumed next

    def start(self) -> SyncWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        """"Sync now": run at once, even while backing off."""
        self._forced = True
        self._wake.set()

    def notify_change(self) -> None:
        """A new event: push at once when the link is healthy; while failing, keep the backoff."""
        if self.failures == 0:
            self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def next_delay(self) -> float:
        if self.failures == 0:
            return self.interval
        return random.uniform(0, min(self.cap, self.base_delay * 2 ** min(self.failures, 20)))

    def after_failure(self, exc: SyncError) -> None:
        """Count the failure and choose the first request of the next attempt.

        A cycle that got some exchanges through before failing shows the link works (central was
        in contact: the heartbeat is not due), and its failure starts a new streak.

        A batch cut on its way (a reset mid-upload) is sent again at once, halved by push(): no
        hello first, since the push reply carries central's head and a 409 gap says where to resume,
        so a reset costs the part that was cut, not that plus a hello. A hello (small, no events)
        goes first instead when the link looks dead (a second failure in a row with nothing got
        through, or a failure without a batch), so no batch is spent, or halved again, on it; after
        central answered with an error (5xx, a refusal), to ask whether it recovered; and when a big
        batch had left whole (only its reply may have been lost), so it is not sent twice.
        """
        if getattr(exc, "exchanges", 0) or exc.answered:
            self.failures, self.last_contact = 1, time.monotonic()
        else:
            self.failures += 1
        # a batch lost on the way (cut, timed out, or too big for the path): central did not answer it
        lost = getattr(exc, "batch_events", 0) and exc.kind in RESEND_AT_ONCE
        # central keeps the part of a cut push: the next attempt asks it where its copy ends, and
        # then sends only the rest (push, CentralClient.resume); a hello is needed only if it holds none
        self.cut = exc.upload if exc.resumable else None
        reply_lost = exc.sent_whole and exc.body_bytes >= ASK_HEAD_BYTES and self.cut is None
        self.probe = self.failures > 1 or not lost or reply_lost

    def heartbeat_due(self) -> bool:
        return self.last_contact is None or time.monotonic() - self.last_contact >= self.heartbeat

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            forced, self._forced = self._forced, False
            try:
                beat = forced or (self.failures > 0 and self.probe) or self.heartbeat_due()
                if not beat and pending_count(self.data_dir) == 0:
                    if self.failures == 0:
                        # quiet when idle: nothing to send, and central is asked only at the heartbeat
                        self._wake.wait(self.next_delay())
                        continue
                    beat = True  # failing with nothing left to send: the hello is the retry
                outcome = sync_once(self.data_dir, self.settings, heartbeat=beat, after_failure=self.failures > 0,
                                    cut=self.cut)
                self.cut = None
                self.last_contact = time.monotonic()
                if self.failures:
                    log.info("sync recovered after %d failures", self.failures)
                self.failures = 0
                if outcome.pushed or outcome.applied:
                    log.info("sync: pushed %d events, applied %d feed entries", outcome.pushed, outcome.applied)
            except SyncError as exc:
                self.after_failure(exc)
                self.log_failure(exc)
            except Exception:  # never let the worker die: log and back off
                self.failures += 1
                self.probe = True
                log.exception("sync worker error")
            self._wake.wait(self.next_delay())
