"""Document blobs on a bad field link (issue 11's acceptance figures): the blob lane against the naive way.

    .venv/bin/python bench/documents_link.py                 # 30 scans, 300 events: about 25 minutes
    .venv/bin/python bench/documents_link.py --scans 6       # quick look (60 events), about 8 minutes

The link is bench/sync_field.BadLink, as it is: 64 kbit/s (8,000 B/s) each way, 300 ± 50 ms one way,
2 % of 1 kB pieces lost (a loss holds the line for an RTO). Every scenario gets its own central, its
own BadLink and its own node (real processes started through their CLIs: ``motcua-central run``,
``motcua-node run`` with its sync worker and blob lane); the scenarios run side by side (each link is
modelled on its own, so they do not share bandwidth; the CPU is shared and mostly idle).

Workload: ``--scans`` phone photos of 2-3 MB (tests/node/document_samples.phone_photo, 12 MP, JPEG 92)
attached through the node's API to as many dossiers (the node normalises them: ~200 kB each), and
``--events`` dossier events in all (intakes, then the attachments). The node works offline, then the
link comes up; the events drain first, then the blobs.

Scenarios, lane:
  clean      goodput = stored blob bytes ÷ (8,000 B/s × time from the last event at central to the last
             blob held); wire ratio = bytes both ways through the link in that phase ÷ stored blob bytes.
  5 resets   the link cuts every open connection five times, spread over the blob phase;
             extra bytes = its blob-phase bytes ÷ the clean run's − 1.
  50 kB      every connection is cut each time the link has carried 50 kB (both ways);
             re-sent = chunk bytes the node put on the link (its sync_state blob_bytes_sent) − stored
             blob bytes, as % of the stored blob bytes. Small chunks cost round trips: on --reset-scans.
The naive way, as ODK Collect does it: one multipart POST per dossier with its form and all its files
(the same normalised scans, in the clear), restarted whole after any failure, to a tiny receiver
written here (not central), through its own BadLink, in the same three conditions. Under a reset every
50 kB a 200 kB POST never completes: it tries for 4 times the link's floor and reports what it managed.

Prints figures and the targets; asserts nothing and exits 0.
"""
from __future__ import annotations

import argparse
import http.server
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from benchlib import free_port, log  # noqa: E402
from sync_field import LINK_RATE, BadLink, BenchNode, run_cli  # noqa: E402
from sync_link import CentralProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from node import scans  # noqa: E402
from tests.e2e.bloblink import ChunkBodies  # noqa: E402
from tests.node import document_samples as samples  # noqa: E402

RESET_BYTES = 50_000


# --- the link ---------------------------------------------------------------------------------

class CountingLink(BadLink):
    """BadLink as it is, also counting the chunk body bytes it forwards to central (what crossed)."""

    def __init__(self, target_port: int, rng: random.Random):
        super().__init__(target_port, rng)
        self.chunks = ChunkBodies()

    async def _pipe(self, reader, writer, direction, budget):
        if direction == "up":
            writer = self.chunks.wrap(writer)
        return await super()._pipe(reader, writer, direction, budget)


class Resetter(threading.Thread):
    """Cuts every open connection of ``proxy``: ``every`` bytes carried, or at ``at`` byte marks."""

    def __init__(self, proxy: BadLink, every: int = 0, at: list[int] | None = None, base: int = 0):
        super().__init__(daemon=True)
        self.proxy, self.every, self.at, self.base = proxy, every, sorted(at or []), base
        self.done = threading.Event()
        self.resets = 0

    def run(self) -> None:
        last = self.base
        while not self.done.is_set():
            carried = self.proxy.total
            if self.every and carried - last >= self.every:
                last = carried
                self.cut()
            elif self.at and carried - self.base >= self.at[0]:
                self.at.pop(0)
                self.cut()
            time.sleep(0.005)

    def cut(self) -> None:
        self.proxy.cut_all()
        self.resets += 1


# --- the blob lane ----------------------------------------------------------------------------

def node_count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def lane(tmp: Path, label: str, photos: list[bytes], events: int, mode: str, seed: int, limit: float,
         estimate: int) -> dict:
    folder = tmp / label
    folder.mkdir(parents=True)
    central = CentralProcess(folder)
    agency = "000.00.06.H56"
    code = central.add_node(agency)
    central.start()
    proxy = CountingLink(central.port, random.Random(seed)).start()
    node = BenchNode(ROOT, folder, agency)
    node.configure(sync_interval_seconds=1, sync_backoff_cap_seconds=2, sync_heartbeat_seconds=900,
                   blob_share_office_hours=100)  # the whole link: pacing is for office hours, not this figure
    run_cli(ROOT, "node.cli", "enroll", "--data", node.dir, proxy.url, code)
    proxy.set(down=True)
    node.process.start()
    figures: dict = {"label": label}
    try:
        rng = random.Random(seed)
        node.intakes(events - len(photos), rng, node.procedures())
        dossiers = [r[0] for r in sqlite3.connect(node.dir / "motcua-node.db").execute(
            "SELECT code FROM dossiers ORDER BY id LIMIT ?", (len(photos),))]
        for dossier, data in zip(dossiers, photos, strict=True):
            r = requests.post(f"http://127.0.0.1:{node.port}/api/v1/dossiers/{dossier}/attachments",
                              headers={"Authorization": f"Bearer {node.token}"}, data={"component": "0"},
                              files={"file": ("trang.jpg", data)}, timeout=300)
            if r.status_code != 201:
                raise RuntimeError(f"attach answered {r.status_code}: {r.text[:200]}")
        node_db = node.dir / "motcua-node.db"
        local_events = node_count(node_db, "SELECT count(*) FROM events")
        time.sleep(1.0)
        proxy.reset_counters()
        proxy.set(down=False)
        started = time.perf_counter()
        resetter = None
        central_db = central.dir / "motcua-central.db"
        while node_count(central_db, "SELECT count(*) FROM events") < local_events:
            time.sleep(0.05)
        events_done = time.perf_counter()
        base = proxy.total
        figures.update(events_s=events_done - started, events_bytes=base, events=local_events)
        if mode == "5":
            resetter = Resetter(proxy, at=[estimate * (i + 1) // 6 for i in range(5)], base=base)
        elif mode == "50k":
            resetter = Resetter(proxy, every=RESET_BYTES, base=base)
        if resetter:
            resetter.start()
        deadline = time.perf_counter() + limit
        while node_count(central_db, "SELECT count(*) FROM blobs") < len(photos):
            if time.perf_counter() > deadline:
                figures["gave_up"] = True
                break
            time.sleep(0.05)
        ended = time.perf_counter()
        if resetter:
            resetter.done.set()
        figures.update(blob_s=ended - events_done, blob_bytes=proxy.total - base,
                       up=proxy.bytes_up, down=proxy.bytes_down, resets=resetter.resets if resetter else 0)
        figures["crossed"] = proxy.chunks.bytes
        figures["stored"] = node_count(central_db, "SELECT coalesce(sum(size), 0) FROM blobs")
        figures["held"] = node_count(central_db, "SELECT count(*) FROM blobs")
        figures["first_blob_after_last_event"] = (
            node_count(central_db, "SELECT min(stored_at) >= (SELECT max(received_at) FROM events) FROM blobs") == 1)
        time.sleep(1.0)
        figures["sent"] = int(node_count(node_db, "SELECT coalesce((SELECT value FROM sync_state "
                                                  "WHERE key = 'blob_bytes_sent'), 0)"))
        figures["chunks"] = int(node_count(node_db, "SELECT coalesce((SELECT value FROM sync_state "
                                                    "WHERE key = 'blob_chunks_sent'), 0)"))
    finally:
        node.process.stop()
        proxy.stop()
        central.stop()
    return figures


# --- the naive way ----------------------------------------------------------------------------

class Receiver(http.server.BaseHTTPRequestHandler):
    """A naive upload endpoint: takes a whole multipart POST, answers 201 once it has it all."""
    protocol_version = "HTTP/1.1"
    received: set[str] = set()
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        left = length
        while left:
            data = self.rfile.read(min(left, 65536))
            if not data:
                return
            left -= len(data)
        with self.lock:
            self.received.add(self.headers.get("X-Dossier", ""))
        body = b'{"ok": true}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def naive(label: str, files: list[bytes], mode: str, seed: int, limit: float, estimate: int) -> dict:
    handler = type("Handler", (Receiver,), {"received": set()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = BadLink(server.server_address[1], random.Random(seed)).start()
    resetter = None
    if mode == "5":
        resetter = Resetter(proxy, at=[estimate * (i + 1) // 6 for i in range(5)])
    elif mode == "50k":
        resetter = Resetter(proxy, every=RESET_BYTES)
    if resetter:
        resetter.start()
    started = time.perf_counter()
    deadline = started + limit
    attempts, done = 0, 0
    session = requests.Session()
    try:
        for i, data in enumerate(files):
            form = {"form": f'{{"dossier": "{i}", "procedure": "1.001193", "applicant": "..."}}'.encode()}
            while time.perf_counter() < deadline:
                attempts += 1
                try:
                    r = session.post(f"{proxy.url}/submission", headers={"X-Dossier": str(i)}, timeout=(10, 60),
                                     files={"xml_submission_file": ("submission.json", form["form"]),
                                            "scan.jpg": ("scan.jpg", data, "image/jpeg")})
                    if r.status_code == 201:
                        done += 1
                        break
                except requests.RequestException:
                    session = requests.Session()
                    time.sleep(1.0)  # and the whole submission again
            else:
                break
    finally:
        ended = time.perf_counter()
        if resetter:
            resetter.done.set()
        proxy.stop()
        server.shutdown()
    return {"label": label, "s": ended - started, "bytes": proxy.total, "done": done, "attempts": attempts,
            "resets": resetter.resets if resetter else 0, "gave_up": done < len(files)}


# --- main -------------------------------------------------------------------------------------

def run_all(jobs: dict) -> dict:
    results: dict = {}

    def run(name, fn, args):
        try:
            results[name] = fn(*args)
        except Exception as exc:  # a failed scenario is reported, the others still print
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    threads = [threading.Thread(target=run, args=(name, fn, args)) for name, (fn, args) in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=30, help="phone photos attached (default 30)")
    parser.add_argument("--events", type=int, default=0, help="dossier events in all (default 10 per scan)")
    parser.add_argument("--reset-scans", type=int, default=0, help="scans for the 50 kB-reset runs (default: "
                        "a fifth of --scans, at least 2: small chunks make that run slow)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--only", default="", help="run only these scenarios, e.g. lane_50k,naive_50k (the "
                        "report then prints what it has)")
    args = parser.parse_args()
    events = args.events or 10 * args.scans
    reset_scans = args.reset_scans or max(2, args.scans // 5)
    log(f"documents_link: {args.scans} scans, {events} events; the 50 kB-reset runs on {reset_scans} scans")
    log(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
        f"{os.getloadavg()[2]:.2f} at start")
    made = time.perf_counter()
    photos = [samples.phone_photo(seed=100 + s, colour=bool(s % 2)) for s in range(args.scans)]
    normalised = [scans.normalise([p], 50 * 2**20).data for p in photos]
    stored_estimate = int(sum(len(n) for n in normalised) * 1.01)
    log(f"photos: {len(photos)}, {min(map(len, photos)) / 1e6:.2f}-{max(map(len, photos)) / 1e6:.2f} MB each "
        f"before normalisation, {sum(map(len, normalised)) / 1e6:.2f} MB normalised in all "
        f"({time.perf_counter() - made:.0f} s to make)")
    # a generous time limit: the link's floor for the blob bytes, times 4
    limit = 4 * stored_estimate / LINK_RATE + 300
    tmp = Path(tempfile.mkdtemp(prefix="motcua-doclink-"))
    small = reset_scans
    small_estimate = int(sum(len(n) for n in normalised[:small]) * 1.01)
    try:
        jobs = {
            "lane_clean": (lane, (tmp, "lane-clean", photos, events, "", args.seed, limit, stored_estimate)),
            "lane_5": (lane, (tmp, "lane-5", photos, events, "5", args.seed + 1, limit, stored_estimate)),
            "naive_clean": (naive, ("naive-clean", normalised, "", args.seed + 2, limit, stored_estimate)),
            "naive_5": (naive, ("naive-5", normalised, "5", args.seed + 3, limit, stored_estimate)),
            "lane_50k": (lane, (tmp, "lane-50k", photos[:small], 10 * small, "50k", args.seed + 4,
                                40 * small_estimate / LINK_RATE + 300, small_estimate)),
            # a 200 kB POST cannot cross a link cut every 50 kB: it tries for 4 times the link's floor
            "naive_50k": (naive, ("naive-50k", normalised[:small], "50k", args.seed + 5,
                                  4 * small_estimate / LINK_RATE, small_estimate)),
        }
        only = [name for name in args.only.split(",") if name]
        results = run_all({name: job for name, job in jobs.items() if not only or name in only})
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")
    report(results, args.scans, small)
    log(f"load at the end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 0


def report(r: dict, scans_n: int, small: int) -> None:
    for name, fig in r.items():
        if "error" in fig:
            log(f"{name}: FAILED: {fig['error']}")
    r = {name: fig for name, fig in r.items() if "error" not in fig}
    log("")
    c, f5, f50 = r.get("lane_clean"), r.get("lane_5"), r.get("lane_50k")
    if c:
        log(f"lane, clean link: events {c['events']} drained in {c['events_s']:.1f} s ({c['events_bytes']:,} B); "
            f"then {c['held']}/{scans_n} blobs, {c['stored']:,} B stored, in {c['blob_s']:.1f} s, "
            f"{c['blob_bytes']:,} B on the wire, {c['chunks']} chunks; every event before any blob: "
            f"{c['first_blob_after_last_event']}")
        log(f"  blob goodput: {100 * c['stored'] / (LINK_RATE * c['blob_s']):.1f} % of the link rate (target >= 85 %)")
        log(f"  bytes on the wire / stored blob bytes: {c['blob_bytes'] / c['stored']:.3f} (target <= 1.05)")
    if f5:
        extra = f"; extra bytes after the resets: {f5['blob_bytes'] - c['blob_bytes']:+,} B " \
                f"({100 * (f5['blob_bytes'] / c['blob_bytes'] - 1):+.1f} %)" if c else ""
        log(f"lane, {f5['resets']} resets: {f5['held']}/{scans_n} blobs in {f5['blob_s']:.1f} s, "
            f"{f5['blob_bytes']:,} B on the wire{extra}; chunk bytes crossed twice: {f5['crossed'] - f5['stored']:,} B "
            f"(the node's count of chunks started: {f5['sent'] - f5['stored']:,} B)")
    if f50:
        resent = (f50["crossed"] - f50["stored"]) / f50["stored"] if f50["stored"] else float("nan")
        bound = (f50["sent"] - f50["stored"]) / f50["stored"] if f50["stored"] else float("nan")
        log(f"lane, a reset every 50 kB ({small} scans, {f50['resets']} resets): {f50['held']}/{small} blobs, "
            f"{f50['stored']:,} B stored in {f50['blob_s']:.1f} s, {f50['chunks']} chunks, {f50['blob_bytes']:,} B on "
            f"the wire; re-sent (chunk bytes that crossed the link beyond the stored bytes) "
            f"{f50['crossed'] - f50['stored']:,} B = {100 * resent:.2f} % of the blob bytes (target <= 5 %); "
            f"counting every chunk a reset cut as sent whole: {100 * bound:.2f} %")
    naive_rows = [(r.get("naive_clean"), c, "clean"), (r.get("naive_5"), f5, "5 resets"),
                  (r.get("naive_50k"), f50, "reset every 50 kB")]
    if any(fig for fig, _, _ in naive_rows):
        log("naive (one multipart POST per dossier, restarted whole after any failure):")
    for fig, ref, cond in naive_rows:
        if not fig:
            continue
        state = "all sent" if not fig["gave_up"] else f"GAVE UP after {fig['s']:.0f} s"
        ratios = (f"; naive / lane: bytes x{fig['bytes'] / ref['blob_bytes']:.2f}, "
                  f"time x{fig['s'] / ref['blob_s']:.2f}") if ref else ""
        log(f"  {cond} ({fig['resets']} resets): {fig['done']} dossiers sent in {fig['s']:.1f} s, {fig['attempts']} "
            f"POSTs, {fig['bytes']:,} B on the wire ({state}){ratios}")


if __name__ == "__main__":
    sys.exit(main())
