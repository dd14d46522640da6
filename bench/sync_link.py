"""Benchmark of sync over a thin link, and of central's ingest under many nodes at once.

    .venv/bin/python bench/sync_link.py                      # full run, about 5 minutes on 2 cores
    .venv/bin/python bench/sync_link.py --dossiers 600 --nodes 10   # quick look, under a minute

(a) A node with 3,000 dossiers (~15,000 events: intake and about four actions each, a valid hash
    chain) built directly in its database while offline, enrolled with a real central through a
    link proxy shaped to 64 kbit/s (8,000 bytes/s each way) with 300 ms one-way latency; then
    ``motcua-node sync --once`` (a subprocess, as a technician would run it; re-run after a
    failure) drains the backlog. Prints the drain time, bytes on the wire per event (TCP payload
    both ways through the proxy: HTTP headers, signed gzip bodies, replies), request payload bytes
    per event (the gzip batch bodies central stored verbatim), and goodput: batch body bytes
    delivered / (link capacity x drain time).
(b) Central's ingest rate: 50 nodes registered and enrolled over HTTP with their own keys, each
    with a pre-built chain cut into signed batches, pushed at once from 50 threads on loopback
    (no proxy). Prints events/s and central's CPU time per event.

The link proxy is tests/e2e/faultproxy.FaultProxy with its shaping replaced by a model of a
real link (see LinkProxy): the stock proxy sleeps ``latency`` before every 4 kB chunk, in series
with the bandwidth shaping, so 300 ms of "latency" would cost 0.3 s per 4 kB (a third of the
link) rather than a one-way delay. ``--stock-proxy`` runs (a) through the stock proxy instead.

It prints figures and a table against the targets; it asserts nothing and exits 0 even when a
target is missed (benchmarks are for people to read, never a test gate).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests
from benchlib import cpu_seconds, free_port, log, working_days_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from appshell.sqlite import connect, write_tx  # noqa: E402
from domain import workflow  # noqa: E402
from domain.clock import local_now, today  # noqa: E402
from domain.codes import format_code  # noqa: E402
from domain.dossier import apply_event, project  # noqa: E402
from node import reference  # noqa: E402
from node.provision import init_node  # noqa: E402
from node.settings import DB_NAME, load_settings  # noqa: E402
from protocol import sync as wire  # noqa: E402
from protocol.canonical import canonical_json  # noqa: E402
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER, seal  # noqa: E402
from protocol.events import GENESIS, event_hash, make_event  # noqa: E402
from protocol.keys import generate, public_b64  # noqa: E402
from tests.e2e.faultproxy import FaultProxy  # noqa: E402

AGENCY = "000.00.06.H56"
PASSWORD = "Bench-pass-2026"
LINK_BYTES_PER_S = 8_000  # 64 kbit/s
LINK_LATENCY_S = 0.3
LINK_BUFFER = 16 * 1024  # what the modem / first hop holds before the sender blocks

TARGETS = {  # figure -> (comparison, limit, unit)
    "wire_bytes_per_event": ("<", 150.0, "B"),
    "goodput": (">", 80.0, "%"),
    "ingest_rate": (">", 5000.0, "events/s"),
}

FAMILY = [("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Hoàng", 5), ("Huỳnh", 4), ("Phan", 4),
          ("Vũ", 4), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2), ("Ngô", 2), ("Dương", 1)]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quốc", "Xuân", "Hoàng", "Thu", "Kim", "Anh"]
GIVEN = ["Dũng", "Hùng", "Lan", "Hương", "Mai", "Anh", "Tuấn", "Hoa", "Linh", "Nam", "Long", "Hải", "Phương",
         "Thảo", "Trang", "Hà", "Sơn", "Bình", "Cường", "Đạt", "Khánh", "Ngân", "Quân", "Tâm", "Yến", "Vy"]
HAMLETS = ["Đông", "Tây", "Nam", "Bắc", "Thượng", "Hạ", "Trung", "Tân Lập", "Hòa Bình"]
HANDLERS = ["Trần Văn Hùng", "Lê Thị Mai", "Phạm Quốc Bảo"]
ACTORS = ["lan", "hoa", "minh"]


# --- the link ---------------------------------------------------------------------------------

class LinkProxy(FaultProxy):
    """FaultProxy whose latency and bandwidth behave like a link, for throughput figures.

    Each direction is one shared serial line of ``bandwidth`` bytes/s: a byte leaves when the line
    is free, then arrives ``latency`` seconds later while the next bytes are already on the line
    (the stock proxy instead waits ``latency`` before each chunk, in series with the shaping).
    The line holds at most ``LINK_BUFFER`` bytes waiting to leave (the listening socket's receive
    buffer is pinned to that size too), so a sender blocks as it would behind a real modem.
    Only ``latency`` and ``bandwidth`` are modelled; the other faults are not used here.
    """

    def __init__(self, target_port: int):
        super().__init__(target_port)
        self._line_free = {"up": 0.0, "down": 0.0}

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, LINK_BUFFER)  # inherited by accepted sockets
        sock.bind(("127.0.0.1", 0))
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=sock))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _pipe(self, reader, writer, direction, budget):
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=max(1, LINK_BUFFER // self.CHUNK))

        async def take():  # bytes enter the line's buffer (blocks the sender when it is full)
            while True:
                data = await reader.read(self.CHUNK)
                await queue.put((loop.time(), data))
                if not data:
                    return
        taker = asyncio.ensure_future(take())
        try:
            while True:
                entered, data = await queue.get()
                if not data:
                    writer.close()
                    return
                faults = self.faults
                step = max(1, faults.bandwidth // 50) if faults.bandwidth else len(data)
                for i in range(0, len(data), step):
                    piece = data[i:i + step]
                    # on the line after the bytes before it (not after their propagation), then in flight
                    leaves = max(entered, self._line_free[direction])
                    if faults.bandwidth:
                        leaves += len(piece) / faults.bandwidth
                    self._line_free[direction] = leaves
                    delay = leaves + faults.latency - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    writer.write(piece)
                    await writer.drain()
                    if direction == "up":
                        self.bytes_up += len(piece)
                    else:
                        self.bytes_down += len(piece)
        finally:
            taker.cancel()


# --- processes --------------------------------------------------------------------------------

CODE = ROOT  # the checkout whose central runs (--code: e.g. an older release, for "before" figures)


def run_cli(module: str, *args, input: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)], input=input, capture_output=True,
                            text=True, cwd=CODE, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{module} {args} failed: {result.stdout}{result.stderr}")
    return result.stdout


class CentralProcess:
    def __init__(self, folder: Path, threads: int | None = None):
        self.threads = threads
        self.dir = folder / "central"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        run_cli("central.cli", "init", "--data", self.dir, "--name", "UBND tỉnh Quảng Ninh", "--admin", "admin",
                "--password-stdin", input=PASSWORD + "\n")
        self.proc: subprocess.Popen | None = None

    def add_node(self, agency: str) -> str:
        out = run_cli("central.cli", "node", "add", "--data", self.dir, "--agency", agency, "--name", "UBND xã")
        return re.search(r"code: (\S+)", out).group(1)

    def start(self) -> CentralProcess:
        with open(self.dir.parent / "central.log", "ab") as out:  # the child keeps its own descriptor
            extra = ["--threads", str(self.threads)] if self.threads else []
            self.proc = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--data", str(self.dir),
                                          "--port", str(self.port), *extra], stdout=out, stderr=subprocess.STDOUT,
                                         cwd=CODE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("central exited; see central.log")
            try:
                requests.get(self.url + "/", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("central did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.dir / 'motcua-central.db'}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn


# --- a commune's history, generated with the domain functions ---------------------------------

class People:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.families, self.weights = [f for f, _ in FAMILY], [w for _, w in FAMILY]

    def applicant(self) -> dict:
        r = self.rng
        name = f"{r.choices(self.families, self.weights)[0]} {r.choice(MIDDLE)} {r.choice(GIVEN)}"
        return {"name": name, "id_number": f"0{r.randrange(10, 96)}{r.choice('0123')}{r.randrange(10**8):08d}",
                "phone": f"09{r.randrange(10**8):08d}", "address": f"Thôn {r.choice(HAMLETS)}, xã Hòa Bình",
                "email": ""}


class History:
    """Dossiers of one commune with a valid hash chain: intake, start, sometimes a supplement
    round or a fee, resolve, return (about five events per dossier)."""

    def __init__(self, node: str, calendar, procedures, catalogue_version: int, rng: random.Random):
        self.node, self.calendar, self.procedures = node, calendar, procedures
        self.catalogue_version, self.rng = catalogue_version, rng
        self.people = People(rng)
        self.seq, self.prev = 0, GENESIS
        self.events: list[dict] = []
        self.event_rows: list[tuple] = []
        self.dossier_rows: list[tuple] = []
        self.columns: list[str] | None = None
        self.counters: dict[str, int] = {}

    def _append(self, type_: str, dossier: str, data: dict, actor: str, at: datetime) -> dict:
        self.seq += 1
        event = make_event(node=self.node, seq=self.seq, prev=self.prev, at=workflow.iso(at), actor=actor,
                           type=type_, dossier=dossier, data=data)
        body = canonical_json(event)
        digest = hashlib.sha256(body).hexdigest()
        self.events.append(event)
        self.event_rows.append((event["seq"], event["id"], type_, dossier, event["at"], digest, body.decode()))
        self.prev = digest
        return event

    def build(self, dossiers: int, per_day: int = 60) -> History:
        rng = self.rng
        days = working_days_until(self.calendar, today() - timedelta(days=1), (dossiers + per_day - 1) // per_day)
        for i in range(dossiers):
            day = days[i // per_day]
            now = datetime.combine(day, datetime.min.time()).replace(hour=7, minute=30) + \
                timedelta(minutes=rng.randrange(0, 9 * 60))
            procedure = rng.choice(self.procedures)
            register = f"register:{day:%Y}"
            self.counters[register] = self.counters.get(register, 0) + 1
            self.counters[f"day:{self.node}:{day:%y%m%d}"] = i % per_day + 1
            code = format_code(self.node, day, i % per_day + 1)
            actor = rng.choice(ACTORS)
            docs = [{"name": d.name, "kind": d.kind if d.kind in ("original", "copy") else "copy", "count": d.count}
                    for d in procedure.documents[:2]]
            change = workflow.receive(
                procedure=procedure, applicant=self.people.applicant(), documents=docs, channel="in_person",
                return_method="desk", code=code, agency=self.node, now=now, calendar=self.calendar,
                catalogue_version=self.catalogue_version, actor=actor, register_no=self.counters[register])
            state = apply_event(None, self._append(change.type, code, change.data, actor, now))
            steps = [("start", {"handler": rng.choice(HANDLERS)})]
            roll = rng.random()
            if roll < 0.3:
                steps += [("supplement", {"items": "Bản sao giấy khai sinh", "reason": "Thiếu giấy tờ"}),
                          ("supplement_received", {})]
            elif roll < 0.5:
                steps += [("fee", {"amount": "50000"}), ("fee_paid", {})]
            steps += [("resolve", {}), ("return", {"rating": str(rng.choice((5, 5, 4, 3)))})]
            at = now
            for action, params in steps:
                at += timedelta(minutes=rng.randrange(20, 600))
                change = workflow.ACTIONS[action][0](state, params, at, self.calendar, procedure)
                state = apply_event(state, self._append(change.type, code, change.data, actor, at))
            row = project(state)
            row["doc"] = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
            self.columns = self.columns or list(row)
            self.dossier_rows.append(tuple(row[c] for c in self.columns))
        assert event_hash(self.events[-1]) == self.prev
        return self

    def save(self, conn) -> None:
        with write_tx(conn):
            conn.executemany(f"INSERT INTO dossiers({', '.join(self.columns)}) "
                             f"VALUES ({', '.join('?' * len(self.columns))})", self.dossier_rows)
            conn.executemany("INSERT INTO events(seq, id, type, dossier, at, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             self.event_rows)
            conn.executemany("INSERT INTO counters(name, value) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value", list(self.counters.items()))


def make_node(folder: Path, agency: str = AGENCY) -> Path:
    data = folder / "node"
    init_node(data, agency_code=agency, agency_name="UBND xã Hòa Bình", admin="admin", password=PASSWORD,
              now=local_now(), parent_name="UBND tỉnh Quảng Ninh")
    return data


def reference_data(data: Path):
    settings = load_settings(data)
    conn = connect(data / DB_NAME)
    try:
        return (reference.CalendarCache(settings["working_hours"]).get(conn), reference.procedures(conn),
                reference.version(conn, "catalogue"))
    finally:
        conn.close()


# --- (a) a 15,000-event backlog over 64 kbit/s -----------------------------------------------

def bench_link(tmp: Path, args, rng: random.Random, figures: dict) -> None:
    central = CentralProcess(tmp / "a")
    code = central.add_node(AGENCY)
    central.start()
    proxy = (FaultProxy if args.stock_proxy else LinkProxy)(central.port).start()
    try:
        data = make_node(tmp / "a")
        calendar, procedures, catalogue_version = reference_data(data)
        t = time.perf_counter()
        history = History(AGENCY, calendar, procedures, catalogue_version, rng).build(args.dossiers)
        conn = connect(data / DB_NAME)
        history.save(conn)
        conn.close()
        events = history.seq
        raw = sum(len(r[6].encode()) for r in history.event_rows)
        log(f"  built {args.dossiers:,} dossiers / {events:,} events offline in {time.perf_counter() - t:.1f} s "
            f"(canonical JSON {raw / events:.0f} B/event)")
        run_cli("node.cli", "enroll", "--data", data, proxy.url, code)
        settings = load_settings(data)
        log(f"  enrolled through the proxy; node timeouts: connect {settings['sync_connect_timeout']} s, "
            f"read {settings['sync_read_timeout']} s")

        proxy.bytes_up = proxy.bytes_down = proxy.connections = 0
        proxy.set(bandwidth=LINK_BYTES_PER_S, latency=LINK_LATENCY_S)
        kind = "stock FaultProxy (latency per 4 kB chunk)" if args.stock_proxy else "LinkProxy"
        log(f"  link: {LINK_BYTES_PER_S * 8 / 1000:.0f} kbit/s each way, {LINK_LATENCY_S * 1000:.0f} ms one-way "
            f"({kind}); draining with `motcua-node sync --once`...")
        runs, failures = 0, []
        started = time.perf_counter()
        while True:
            runs += 1
            result = subprocess.run([sys.executable, "-m", "node.cli", "sync", "--data", str(data), "--once"],
                                    capture_output=True, text=True, cwd=ROOT)
            if result.returncode == 0:
                break
            failures.append((time.perf_counter() - started, (result.stderr or result.stdout).strip()[-200:]))
            log(f"    run {runs} failed after {failures[-1][0]:.0f} s: {failures[-1][1]}")
            if time.perf_counter() - started > args.drain_limit:
                log(f"    giving up after {args.drain_limit} s")
                break
        drain = time.perf_counter() - started
        wire_bytes = proxy.bytes_up + proxy.bytes_down

        cdb = central.db()
        try:
            stored = cdb.execute("SELECT count(*) FROM events WHERE node = ?", (AGENCY,)).fetchone()[0]
            batches = cdb.execute("SELECT count(*), coalesce(sum(length(body)), 0), min(last_seq - first_seq + 1), "
                                  "max(last_seq - first_seq + 1) FROM batches WHERE node = ?", (AGENCY,)).fetchone()
        finally:
            cdb.close()
        nconn = connect(data / DB_NAME)
        batch_size = nconn.execute("SELECT value FROM sync_state WHERE key = 'batch_size'").fetchone()
        nconn.close()
        n_batches, payload, smallest, largest = batches
        capacity = LINK_BYTES_PER_S * drain
        figures.update(drain_s=drain, events=events, stored=stored,
                       wire_bytes_per_event=wire_bytes / max(stored, 1),
                       payload_bytes_per_event=payload / max(stored, 1),
                       goodput=100.0 * payload / capacity)
        log(f"  drained {stored:,} of {events:,} events in {drain:.1f} s over {runs} run(s) of sync --once "
            f"({len(failures)} failed); {n_batches} batches of {smallest}-{largest} events stored; "
            f"batch size now {batch_size[0] if batch_size else '-'}")
        log(f"  on the wire: {proxy.bytes_up:,} B up + {proxy.bytes_down:,} B down over {proxy.connections} "
            f"connection(s) = {wire_bytes / max(stored, 1):.1f} B/event")
        log(f"  request payload (signed gzip batch bodies stored by central): {payload:,} B = "
            f"{payload / max(stored, 1):.1f} B/event; overhead (headers, hello, feed, replies, failed tries) "
            f"{(wire_bytes - payload) / max(stored, 1):.1f} B/event")
        log(f"  goodput: {payload:,} B / ({LINK_BYTES_PER_S} B/s x {drain:.1f} s) = {figures['goodput']:.1f} % "
            f"of the upstream capacity; {stored / drain:.0f} events/s, "
            f"{raw / drain * 8 / 1000:.0f} kbit/s of canonical JSON")
    finally:
        proxy.stop()
        central.stop()


# --- (b) central's ingest with 50 nodes at once ------------------------------------------------

def agency_code(i: int) -> str:
    return f"000.00.{i // 100 + 10:02d}.H{i % 100:02d}"


def register_nodes(central: CentralProcess, n: int) -> list[tuple[str, object]]:
    """Node entries with one-time codes straight in central's database (what `node add` does),
    then each node enrols over HTTP with its own fresh key."""
    from central.db import connect as central_connect
    from central.store.nodes import add_node
    from domain.clock import local_now
    conn = central_connect(central.dir / "motcua-central.db")
    codes = []
    try:
        for i in range(n):
            agency = agency_code(i)
            code, _ = add_node(conn, agency, f"UBND xã số {i + 1}", now=local_now(), minutes=60)
            codes.append((agency, code))
    finally:
        conn.close()
    nodes = []
    for agency, code in codes:
        key = generate()
        r = requests.post(central.url + wire.ENROLL, timeout=30,
                          json={"code": code, "public_key": public_b64(key), "agency_code": agency})
        if r.status_code != 200:
            raise RuntimeError(f"enrolment of {agency} answered {r.status_code}")
        nodes.append((agency, key))
    return nodes


def signed_batches(agency: str, key, events: list[dict], size: int, v2: bool = False) -> list[tuple[bytes, dict]]:
    """Batches as a node sends them: v1 (gzip) or, with ``v2``, wire format v2 (protocol/wire2.py)."""
    out = []
    for start in range(0, len(events), size):
        part = events[start:start + size]
        payload = {"node": agency, "nonce": wire.nonce(), "sent_at": local_now().isoformat(),
                   "events": part, "pending": len(events) - start - len(part), "oldest_pending_at": part[0]["at"]}
        if v2:
            from protocol import wire2
            from protocol.keys import sign
            raw = canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(part, agency)))
            out.append((wire2.compress(raw), {"Content-Type": "application/json", "Content-Encoding": wire2.ENCODING,
                                              NODE_HEADER: agency, SIGNATURE_HEADER: sign(key, raw),
                                              wire2.BATCH_SIGNATURE_HEADER: sign(key, canonical_json(payload))}))
            continue
        body, signature = seal(key, payload)
        out.append((body, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                           NODE_HEADER: agency, SIGNATURE_HEADER: signature}))
    return out


def rechain(events: list[dict]) -> list[dict]:
    from protocol.wire2 import derived_id
    out, prev = [], GENESIS
    for event in events:
        event = dict(event, id=derived_id(event["node"], event["seq"]), prev=prev)
        prev = event_hash(event)
        out.append(event)
    return out


def bench_ingest(tmp: Path, args, rng: random.Random, figures: dict) -> None:
    calendar, procedures, catalogue_version = reference_data(make_node(tmp / "b-ref"))
    central = CentralProcess(tmp / "b", threads=args.central_threads)
    central.start()
    try:
        t = time.perf_counter()
        nodes = register_nodes(central, args.nodes)
        log(f"  {args.nodes} nodes registered and enrolled over HTTP in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        work, total = [], 0
        for agency, key in nodes:
            history = History(agency, calendar, procedures, catalogue_version, rng).build(args.node_dossiers)
            if args.wire == 2:  # events appended since v2 carry the derived id
                history.events = rechain(history.events)
            work.append((agency, signed_batches(agency, key, history.events, args.ingest_batch, v2=args.wire == 2)))
            total += history.seq
        body_bytes = sum(len(b) for _, batches in work for b, _ in batches)
        log(f"  {total:,} events (~{total // len(work)} per node) in {sum(len(b) for _, b in work)} signed batches of "
            f"{args.ingest_batch} ({body_bytes / total:.0f} B/event gzipped) built in {time.perf_counter() - t:.1f} s")

        barrier = threading.Barrier(args.nodes + 1)
        errors: list[str] = []
        latencies: list[float] = []

        def push(agency, batches):
            http = requests.Session()
            barrier.wait()
            for body, headers in batches:
                t0 = time.perf_counter()
                try:
                    r = http.post(central.url + wire.PUSH, data=body, headers=headers, timeout=300)
                    status = r.status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors.append(f"{agency}: {status}")
                    return

        threads = [threading.Thread(target=push, args=w, daemon=True) for w in work]
        for th in threads:
            th.start()
        cpu0 = cpu_seconds(central.proc.pid)
        barrier.wait()
        started = time.perf_counter()
        for th in threads:
            th.join()
        wall = time.perf_counter() - started
        cpu = cpu_seconds(central.proc.pid) - cpu0
        cdb = central.db()
        stored = cdb.execute("SELECT count(*) FROM events").fetchone()[0]
        anomalies = cdb.execute("SELECT count(*) FROM anomalies").fetchone()[0]
        cdb.close()
        latencies.sort()
        figures["ingest_rate"] = stored / wall
        log(f"  {stored:,} of {total:,} events stored in {wall:.1f} s = {stored / wall:,.0f} events/s "
            f"({len(errors)} refused{': ' + ', '.join(errors[:3]) if errors else ''}; {anomalies} anomalies)")
        log(f"  push latency p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
            f"max {latencies[-1] * 1000:.0f} ms; central CPU {cpu:.1f} s = {cpu / max(stored, 1) * 1e6:.0f} µs/event "
            f"({cpu / wall * 100:.0f} % of one core)")
    finally:
        central.stop()


# --- main -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=3000, help="dossiers queued offline for (a)")
    parser.add_argument("--nodes", type=int, default=50, help="nodes pushing at once in (b)")
    parser.add_argument("--node-dossiers", type=int, default=200, help="dossiers per node in (b) (~5 events each)")
    parser.add_argument("--ingest-batch", type=int, default=500, help="events per signed batch in (b)")
    parser.add_argument("--drain-limit", type=float, default=330, help="give up draining (a) after this many s")
    parser.add_argument("--stock-proxy", action="store_true", help="shape (a) with the stock FaultProxy")
    parser.add_argument("--skip-link", action="store_true", help="skip (a)")
    parser.add_argument("--skip-ingest", action="store_true", help="skip (b)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose central runs (an older release)")
    parser.add_argument("--central-threads", type=int, default=None,
                        help="waitress threads of (b)'s central (default: central's own default)")
    parser.add_argument("--wire", type=int, choices=(1, 2), default=1, help="wire format of (b)'s batches")
    args = parser.parse_args()
    global CODE
    CODE = args.code.resolve()

    log(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPU(s), "
        f"{platform.platform()}")
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="motcua-sync-bench-"))
    figures: dict = {}
    started = time.perf_counter()
    try:
        if not args.skip_link:
            log(f"\n(a) {args.dossiers:,} dossiers queued offline, drained over a 64 kbit/s link")
            try:
                bench_link(tmp, args, rng, figures)
            except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not fail
                log(f"  (a) failed: {type(exc).__name__}: {exc}")
        if not args.skip_ingest:
            log(f"\n(b) central's ingest: {args.nodes} nodes pushing at once on loopback")
            try:
                bench_ingest(tmp, args, rng, figures)
            except Exception as exc:  # noqa: BLE001
                log(f"  (b) failed: {type(exc).__name__}: {exc}")
    finally:
        if args.keep:
            log(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    log(f"\n{'figure':<46}{'value':>18}  {'target':<18}result")
    rows = [("wire_bytes_per_event", "bytes on the wire per event (a)"),
            ("payload_bytes_per_event", "request payload bytes per event (a)"),
            ("drain_s", "drain time (a)"),
            ("goodput", "goodput, share of link capacity (a)"),
            ("ingest_rate", f"central ingest, {args.nodes} nodes at once (b)")]
    units = {"wire_bytes_per_event": "B", "payload_bytes_per_event": "B", "drain_s": "s", "goodput": "%",
             "ingest_rate": "events/s"}
    for key, label in rows:
        value = figures.get(key)
        shown = "-" if value is None else f"{value:,.1f} {units[key]}"
        if key in TARGETS:
            op, limit, unit = TARGETS[key]
            target = f"{op} {limit:,.0f} {unit}"
            result = "-" if value is None else ("ok" if (value < limit if op == "<" else value > limit) else "MISSED")
        else:
            target, result = "", ""
        log(f"{label:<46}{shown:>18}  {target:<18}{result}")
    log(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
