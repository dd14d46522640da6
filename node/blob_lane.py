"""The blob lane: document blobs travel to central on their own schedule, after the events (issue 11).

A daemon thread beside the sync worker (node/sync.py), started with it by ``motcua-node run``. Wire
contract: protocol/blobsync.py; what travels: protocol/blobobject.py (MCT1, sealed to central's key).

    idle --(blob queued | timer)--> asking --(have: held -> mark held 'dedup', received -> acked)-->
      sending: one chunk at central's offset --ok--> (pace) --> next chunk ... last chunk --> held
        |  an event pending: stop before the next chunk (events first, always)
        |  409 offset: adopt central's offset;  422 bad_blob: start the blob over from 0
        +--> failure (reset, timeout, 5xx): shrink the chunk, back off (capped, full jitter), ask
             central where the upload stands before the next chunk

Rules:
- Events first: before every chunk the lane checks that no event is waiting for central, so every
  event reaches central before any blob completes, and a hand-up never queues behind a scan. Central
  accepts a blob only from a node whose dossiers name it, which also needs the event there first.
- Oldest first, after asking ``have`` in batches of up to 500 hashes: a blob central already holds
  (reused by several dossiers, or brought by a USB bundle) is marked held and never crosses.
- Resumable: ``blob_sync.acked`` is the offset central acknowledged; after a reset, a timeout or a
  restart of either side the lane asks central (``have`` answers the staged offset) and sends from
  exactly there, so at most the one chunk in flight is sent again.
- Chunk size adapts to the link (``ChunkSizer``): doubles on success, halves on failure, and is
  bounded by ``blob_chunk_seconds`` of the measured rate while blobs are paced (a pending event waits
  at most that long), three times that when they may use the whole link (fewer round trips),
  and by 1/40 of an EWMA of the bytes the link carries between resets (so a link that resets every
  50 kB re-sends at most 5 % of the blob bytes).
- Bandwidth care: during office hours (the working calendar and ``working_hours``) blobs use at most
  ``blob_share_office_hours`` percent of the link: after a chunk that took t s the lane waits
  t * (100 / share - 1) s. Outside office hours, the whole link.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path

from appshell.sqlite import connect, write_tx
from protocol import blobsync

from . import blob_outbox, sync_state
from .blobs import BlobError, BlobStore
from .clock import legal_time, local_now
from .reference import CalendarCache
from .sync import _check_reply, make_client
from .sync_client import SyncError

log = logging.getLogger("motcua.blobs")

MIN_CHUNK, START_CHUNK, MAX_CHUNK = 1024, 16 * 1024, 512 * 1024
RESET_SHARE = 40      # a chunk is at most 1/40 of the bytes the lane sees carried between two resets: a reset
                      # costs about the chunk it cuts, and the lane misses resets that fall between its chunks
EWMA = 0.3
LINK_FAILURES = ("offline", "dropped", "timeout", "server", "too_large", "bad_reply")


class ChunkSizer:
    """How big the next chunk is: grows on success, shrinks on failure, bounded by time and resets."""

    def __init__(self, start: int = START_CHUNK, minimum: int = MIN_CHUNK, maximum: int = MAX_CHUNK,
                 target_seconds: float = 20.0, reset_share: int = RESET_SHARE):
        self.size, self.minimum, self.maximum = start, minimum, maximum
        self.target_seconds, self.reset_share = target_seconds, reset_share
        self.rate: float | None = None      # EWMA of bytes per second the link carried a chunk at
        self.between: float | None = None   # EWMA of bytes carried between two resets
        self.since_reset = 0
        self.rtt: float | None = None       # seconds a small request takes there and back (from ``have``)

    def _ewma(self, old: float | None, new: float) -> float:
        return new if old is None else EWMA * new + (1 - EWMA) * old

    def next(self) -> int:
        bound = min(self.size, self.maximum)
        if self.rate is not None:
            bound = min(bound, int(self.rate * self.target_seconds))
        if self.between is not None:
            bound = min(bound, int(self.between / self.reset_share))
        return max(self.minimum, bound)

    def round_trip(self, seconds: float) -> None:
        """A small request took ``seconds``: the link's round trip, kept out of the rate."""
        self.rtt = seconds if self.rtt is None else min(seconds, self._ewma(self.rtt, seconds))

    def success(self, sent: int, seconds: float) -> None:
        self.since_reset += sent
        if self.rtt is not None:  # the rate of the line itself: a chunk's time less one round trip
            seconds = max(seconds - self.rtt, seconds / 2)
        if seconds > 0 and sent >= self.minimum:
            self.rate = self._ewma(self.rate, sent / seconds)
        self.size = min(self.maximum, max(self.next(), sent) * 2)
        if self.between is not None and self.since_reset > self.between:
            self.between = float(self.since_reset)  # the link holds longer now: chunks grow ~5 % a chunk

    def dumps(self) -> str:
        """The sizer's state in a line (kept in sync_state ``blob_link``)."""
        return " ".join(str(int(v)) if v is not None else "-" for v in (self.size, self.rate, self.between,
                                                                            self.since_reset))

    def loads(self, text: str | None) -> None:
        try:
            size, rate, between, since = (None if v == "-" else int(v) for v in (text or "").split())
        except ValueError:
            return  # nothing kept yet (or an older format): start from the defaults
        self.size = max(self.minimum, min(self.maximum, size or self.size))
        self.rate = float(rate) if rate else None
        self.between = float(between) if between else None
        self.since_reset = since or 0

    def failure(self, reset: bool = True) -> None:
        if reset:
            self.between = self._ewma(self.between, max(self.since_reset, self.minimum * self.reset_share))
            self.since_reset = 0
        self.size = max(self.minimum, self.next() // 2)


UNPACED_CHUNK_FACTOR = 3


def chunk_target(seconds: float, share_percent: int, office_hours: bool) -> float:
    """How long one chunk may hold the line: ``blob_chunk_seconds`` while blobs are paced (office hours,
    so a pending event waits at most that); three times that when they may use the whole link, where
    each chunk's round trip is the cost that matters (fewer, longer chunks: goodput)."""
    paced = office_hours and share_percent < 100
    return seconds if paced else seconds * UNPACED_CHUNK_FACTOR


def pace_delay(seconds: float, share_percent: int, office_hours: bool) -> float:
    """How long to wait after a chunk that took ``seconds``, so blobs use ``share_percent`` of the link."""
    if not office_hours or share_percent >= 100:
        return 0.0
    share = max(1, share_percent)
    return seconds * (100 / share - 1)


class Stop(Exception):
    """The lane must yield now (stopping, or an event is waiting)."""


class BlobLane:
    """A daemon thread that drains ``blob_sync`` to central, one chunk at a time."""

    def __init__(self, data_dir: Path, settings: dict, base_delay: float = 1.0, session=None):
        self.data_dir, self.settings, self.session = Path(data_dir), settings, session
        self.base_delay, self.cap = base_delay, float(settings["sync_backoff_cap_seconds"])
        self.interval = float(settings["sync_interval_seconds"])
        self.share = int(settings.get("blob_share_office_hours", 50))
        self.chunk_seconds = float(settings.get("blob_chunk_seconds", 20))
        self.sizer = ChunkSizer(target_seconds=self.chunk_seconds)
        self.calendar = CalendarCache(settings["working_hours"])
        self.store = BlobStore(self.data_dir, create_key=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="motcua-blobs", daemon=True)
        self.failures = 0
        self.unsure: set[str] = set()       # hashes whose offset at central must be asked first
        self.set_aside: dict[str, int] = {}  # hash -> refusals this run (a blob central keeps refusing)
        self.reported: tuple = (0, 0)  # the backlog central last heard (a node that never had one says nothing)
        self.asked: set[str] = set()         # hashes asked about since asked_at (asked again each heartbeat)
        self.asked_at = time.monotonic()
        self.heartbeat = float(settings.get("sync_heartbeat_seconds", 900))
        self._last_log: dict[str, float] = {}
        self._client = None
        self._client_key: tuple | None = None
        self.sent_chunks = 0
        self.held_by_link = 0

    # --- thread -------------------------------------------------------------------------------
    def start(self) -> BlobLane:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _log(self, key: str, level: int, message: str, *args) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= 300:
            self._last_log[key] = now
            log.log(level, message, *args)

    def next_delay(self) -> float:
        if self.failures == 0:
            return self.interval
        return random.uniform(0, min(self.cap, self.base_delay * 2 ** min(self.failures, 20)))

    def _run(self) -> None:
        try:
            conn = self._connect()
            try:
                self.sizer.loads(sync_state.get(conn, "blob_link"))
                said = (sync_state.get(conn, "blob_backlog_reported") or "").split()
                if len(said) == 2 and all(x.isdigit() for x in said):  # quiet when idle, across restarts too
                    self.reported = (int(said[0]), int(said[1]))
            finally:
                conn.close()
        except Exception:
            log.exception("blob lane could not read its link state")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                busy = self.cycle()
                if self.failures:
                    log.info("blob lane recovered after %d failures", self.failures)
                self.failures = 0
                if busy:
                    continue
            except Stop:
                # an event is waiting: let the sync worker push it, look again shortly
                self._stop.wait(0.2)
                continue
            except SyncError as exc:
                self.failures += 1
                self._log(exc.kind, logging.WARNING, "blob upload failed: %s", exc)
            except Exception:  # never let the lane die: log and back off
                self.failures += 1
                log.exception("blob lane error")
            self._wake.wait(self.next_delay())

    # --- one cycle ----------------------------------------------------------------------------
    def _connect(self):
        return connect(self.data_dir / "motcua-node.db")

    def events_pending(self, conn) -> bool:
        local = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        return local > int(sync_state.get(conn, "acked_seq", 0))

    def _yield_if_needed(self, conn) -> None:
        if self._stop.is_set() or self.events_pending(conn):
            raise Stop()

    def office_hours(self, conn) -> bool:
        return self.calendar.get(conn).is_working_time(legal_time(conn).now)

    def client(self, conn):
        """One client, so one kept-alive connection, for as long as the enrolment stays the same."""
        values = sync_state.get_all(conn)
        key = (values.get("central_url"), values.get("central_public_key"), values.get("node_id"))
        if self._client is None or self._client_key != key:
            self._client = make_client(conn, self.data_dir, self.settings, self.session)
            self._client_key = key
        return self._client

    def cycle(self) -> bool:
        """Ask central about the waiting blobs, then send the oldest one. True: more may be waiting."""
        conn = self._connect()
        try:
            if not sync_state.get(conn, "central_public_key"):
                return False
            self._yield_if_needed(conn)
            waiting = blob_outbox.waiting(conn)
            backlog = blob_outbox.backlog(conn)
            if not waiting:
                if self.reported != (backlog.files, backlog.bytes):
                    self.have(conn, self.client(conn), [])
                return False
            client = self.client(conn)
            if time.monotonic() - self.asked_at >= self.heartbeat:  # another node's upload, a USB bundle
                self.asked.clear()
                self.asked_at = time.monotonic()
            fresh = [w["hash"] for w in waiting if w["hash"] not in self.asked or w["hash"] in self.unsure]
            for i in range(0, len(fresh), blobsync.MAX_HAVE):
                self.have(conn, client, fresh[i:i + blobsync.MAX_HAVE])
            for item in blob_outbox.waiting(conn):
                if self.set_aside.get(item["hash"], 0) >= 3:
                    continue
                try:
                    self.upload(conn, client, item["hash"])
                except (OSError, BlobError) as exc:  # this node's own copy is missing or damaged
                    self.set_aside[item["hash"]] = 3
                    log.error("blob %s cannot be read for upload, set aside until restart (run motcua-node "
                              "doctor): %s", item["hash"][:12], exc)
                return True
            return False
        finally:
            conn.close()

    def have(self, conn, client, hashes: list[str]) -> None:
        backlog = blob_outbox.backlog(conn)
        started = time.monotonic()
        reply = client.call(blobsync.HAVE, {"hashes": hashes, "backlog": {
            "files": backlog.files, "bytes": backlog.bytes, "oldest_at": backlog.oldest_at}})
        if len(hashes) <= 50:  # a small exchange: about one round trip
            self.sizer.round_trip(time.monotonic() - started)
        payload = _check_reply(reply, blobsync.HAVE)
        held = set(payload.get("held") or []) & set(hashes)
        received = payload.get("received") if isinstance(payload.get("received"), dict) else {}
        now = local_now().isoformat()
        states = {w["hash"]: w["state"] for w in blob_outbox.waiting(conn)}
        with write_tx(conn):
            for digest in hashes:
                if digest in held:
                    # sent by this lane before (its reply lost), or central had it: either way it is there
                    blob_outbox.mark_held(conn, digest, "link" if states.get(digest) == "sending" else "dedup", now)
                elif isinstance(received.get(digest), int) and received[digest] >= 0:
                    blob_outbox.set_acked(conn, digest, received[digest])  # resume exactly there
                elif states.get(digest) == "sending":
                    blob_outbox.set_acked(conn, digest, 0)  # central has nothing staged: from the start
        self.unsure.difference_update(hashes)
        self.asked.update(hashes)
        if held:
            log.info("central already holds %d of %d blobs asked about", len(held), len(hashes))
        self.reported = (backlog.files, backlog.bytes)  # what central heard (before this reply's marks)
        sync_state.put(conn, blob_backlog_reported=f"{backlog.files} {backlog.bytes}")

    def upload(self, conn, client, digest: str) -> None:
        """Send ``digest`` chunk by chunk from central's acknowledged offset until held (or told to yield)."""
        public = client.central_public_key
        size = blob_outbox.object_size(conn, self.store, digest, public)
        while True:
            self._yield_if_needed(conn)
            row = conn.execute("SELECT acked, state FROM blob_sync WHERE hash = ?", (digest,)).fetchone()
            if row is None or row["state"] == "held":
                return
            offset = int(row["acked"] or 0)
            if offset >= size:  # acked the whole object but never heard "held": ask
                self.unsure.add(digest)
                offset = 0
            if digest in self.unsure:
                self.have(conn, client, [digest])
                continue
            self.sizer.target_seconds = chunk_target(self.chunk_seconds, self.share, self.office_hours(conn))
            length = self.sizer.next()
            if size - offset <= length * 3 // 2:  # no small tail chunk: it would cost a round trip of its own
                length = size - offset
            data = blob_outbox.read_object(conn, self.store, digest, public, offset, length)
            meta = blobsync.chunk_meta(digest=digest, size=size, offset=offset, data=data)
            # counted before it leaves: what the link was asked to carry, a chunk cut by a reset or a kill too
            # (sync_state keys blob_bytes_sent / blob_chunks_sent, for doctor-style figures and the benchmarks;
            # blob_link: what the sizer learnt of the link, so a restarted node does not start blind)
            sync_state.put(conn, blob_bytes_sent=int(sync_state.get(conn, "blob_bytes_sent", 0)) + len(data),
                           blob_chunks_sent=int(sync_state.get(conn, "blob_chunks_sent", 0)) + 1,
                           blob_link=self.sizer.dumps())
            started = time.monotonic()
            try:
                reply = client.send_chunk(blobsync.CHUNK, meta, data)
            except SyncError as exc:
                self.unsure.add(digest)
                if exc.kind in ("dropped", "timeout"):  # the link carried part of it, then broke
                    self.sizer.failure(reset=True)
                elif exc.kind in LINK_FAILURES and exc.kind != "offline":  # offline: nothing was carried
                    self.sizer.failure(reset=False)
                raise
            took = time.monotonic() - started
            payload = reply.payload
            code = (payload.get("error") or {}).get("code")
            received = payload.get("received")
            if reply.status == 409 and code == "offset" and isinstance(received, int):
                blob_outbox.set_acked(conn, digest, received)
                log.info("blob %s resumes at central's offset %d", digest[:12], received)
                continue
            if reply.status == 422 and code == "bad_blob":
                blob_outbox.set_acked(conn, digest, 0)
                self.set_aside[digest] = self.set_aside.get(digest, 0) + 1
                log.warning("central found blob %s damaged on arrival; sending it again", digest[:12])
                return
            if reply.status in (403, 413) and code in ("not_referenced", "too_large"):
                self.set_aside[digest] = 3
                self._log(code + digest, logging.WARNING, "central refuses blob %s (%s): set aside until restart",
                          digest[:12], code)
                return
            if reply.status == 409 and code in ("replayed", "stale"):
                self.unsure.add(digest)
                raise SyncError("refused", "", f"chunk refused as {code}")
            _check_reply(reply, blobsync.CHUNK)
            self.sent_chunks += 1
            self.sizer.success(len(data), took)
            if payload.get("held"):
                blob_outbox.mark_held(conn, digest, "link", local_now().isoformat())
                self.held_by_link += 1
                return
            blob_outbox.set_acked(conn, digest, int(received) if isinstance(received, int) else offset + len(data))
            wait = pace_delay(took, self.share, self.office_hours(conn))
            if wait and self._stop.wait(wait):
                raise Stop()
