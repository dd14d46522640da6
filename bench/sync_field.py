"""Sync on a bad field link: 1,000 intakes, bytes per record, drain time against the link's floor,
idle bytes per day, and the extra bytes five connection resets cost (issue 13's acceptance).

    .venv/bin/python bench/sync_field.py                         # this checkout (wire v2): ~4 minutes
    .venv/bin/python bench/sync_field.py --code /tmp/c7894ff     # the same run against an older release
    .venv/bin/python bench/sync_field.py --intakes 200           # quick look
    .venv/bin/python bench/sync_field.py --skip-idle --trace     # every request of 1 and 2 (bytes, cuts)

Everything is real processes, started through their CLIs from ``--code`` (default this checkout;
``git archive c7894ff | tar -x -C /tmp/c7894ff`` gives the release before wire v2, the "before"
figures): ``motcua-central run``, and ``motcua-node run`` with its sync worker, reaching central
through ``BadLink``: the benchmark's LinkProxy (bench/sync_link.py, itself the project's
tests/e2e/faultproxy.FaultProxy with a link model) on the bad profile: 64 kbit/s (8,000 B/s) each
way, 300 ± 50 ms one way, 2 % of 1 kB pieces lost (a loss costs a retransmission timeout,
RTO = 200 ms + one round trip, during which the direction's line is held: TCP delivers in order).

1. Drain: the node is enrolled, the link goes down, 1,000 intakes are made through the node's
   HTTP API like the README example (random Vietnamese name, 12-digit ID, phone, address, one of
   the sample procedures, one or two of its documents); then the link comes up and the clock runs
   until central stores the last event. Bytes are TCP payload both ways through the proxy.
   floor = bytes sent up ÷ 8,000 B/s + requests × 0.6 s (one round trip per request).
2. Resets: the same 1,000 intakes (the same seed: applicants, procedures, documents) on a second
   node (same central), while the proxy cuts every open connection five times, at even fractions of
   the clean drain's bytes up; extra = its bytes ÷ the clean drain's − 1.
3. Idle: the first node, drained, idle (nothing to send, nothing new at central), for one
   accelerated hour: every sync interval divided by ``--speed`` (60: a heartbeat of 900 s
   becomes 15 s, a poll of 60 s becomes 1 s), bytes counted over ``3600 / speed`` s and
   multiplied by 24 for a day.

It prints figures; it asserts nothing and exits 0 (a benchmark is for people to read).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from benchlib import free_port, log  # noqa: E402
from sync_link import FAMILY, GIVEN, HAMLETS, MIDDLE, LinkProxy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LINK_RATE = 8_000
LATENCY, JITTER, LOSS = 0.3, 0.05, 0.02
RTT = 2 * LATENCY
PASSWORD = "Bench-pass-2026"


class BadLink(LinkProxy):
    """LinkProxy plus jitter (uniform ± JITTER, order kept) and loss (a lost piece waits an RTO)."""

    def __init__(self, target_port: int, rng: random.Random):
        super().__init__(target_port)
        self.rng = rng
        self.requests = 0
        self._arrival = {"up": 0.0, "down": 0.0}
        self.trace: list[dict] | None = None  # with --trace: one entry per request (bytes up, down, cut)
        self._open: dict[int, dict] = {}

    def _note(self, key: int, direction: str, data: bytes) -> None:
        if self.trace is None:
            return
        start = re.search(rb"(GET|POST) (/api/\S+) HTTP/1.1\r\n", data) if direction == "up" else None
        if start:
            path = f"{start.group(1).decode()} {start.group(2).decode('ascii', 'replace')}"
            self._open[key] = entry = {"t": time.perf_counter(), "path": path, "up": 0, "down": 0, "cut": False}
            self.trace.append(entry)
        entry = self._open.get(key)
        if entry is not None:
            entry[direction] += len(data)

    def cut_all(self) -> None:
        if self.trace is not None:
            for entry in self._open.values():
                if not entry["down"]:
                    entry["cut"] = True
            self.trace.append({"t": time.perf_counter(), "path": "CUT", "up": self.bytes_up, "down": 0, "cut": True})
        super().cut_all()

    async def _pipe(self, reader, writer, direction, budget):
        loop = asyncio.get_running_loop()
        key = id(writer.transport if direction == "up" else reader._transport)  # the upstream connection
        queue: asyncio.Queue = asyncio.Queue(maxsize=16)  # ~16 kB waiting for the line: the sender blocks

        async def take():  # a piece leaves when the line is free, arrives LATENCY ± JITTER later, in order
            while True:
                data = await reader.read(1024)
                if not data:
                    await queue.put((0.0, b""))
                    return
                if direction == "up":
                    self.requests += data.count(b"POST /api/") + data.count(b"GET /api/")
                leaves = max(loop.time(), self._line_free[direction]) + len(data) / LINK_RATE
                if self.rng.random() < LOSS:
                    leaves += 0.2 + RTT  # retransmitted after the timeout; the line waits (in-order delivery)
                self._line_free[direction] = leaves
                arrival = max(self._arrival[direction], leaves + LATENCY + self.rng.uniform(-JITTER, JITTER))
                self._arrival[direction] = arrival
                await queue.put((arrival, data))
        taker = asyncio.ensure_future(take())
        try:
            while True:
                arrival, data = await queue.get()
                if not data:
                    writer.close()
                    return
                delay = arrival - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
                if direction == "up":
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                self._note(key, direction, data)
        finally:
            taker.cancel()

    def reset_counters(self) -> None:
        self.bytes_up = self.bytes_down = self.requests = self.connections = 0
        if self.trace is not None:
            self.trace, self._open = [], {}

    @property
    def total(self) -> int:
        return self.bytes_up + self.bytes_down


def run_cli(code: Path, module: str, *args, input: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)], input=input, capture_output=True,
                            text=True, cwd=code, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{module} {args} failed: {result.stdout}{result.stderr}")
    return result.stdout


class Process:
    def __init__(self, code: Path, argv: list[str], port: int, log_path: Path, ready: str):
        self.code, self.argv, self.port, self.log_path, self.ready = code, argv, port, log_path, ready
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", *self.argv], stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.code)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited; see {self.log_path}")
            try:
                requests.get(f"http://127.0.0.1:{self.port}{self.ready}", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class BenchNode:
    def __init__(self, code: Path, folder: Path, agency: str):
        self.code, self.agency, self.dir = code, agency, folder / agency
        self.port = free_port()
        run_cli(code, "node.cli", "init", "--data", self.dir, "--agency", agency, "--name", "UBND xã Hòa Bình",
                "--admin", "admin", "--password-stdin", "--public-url", f"http://127.0.0.1:{self.port}",
                input=PASSWORD + "\n")
        run_cli(code, "node.cli", "user", "add", "--data", self.dir, "lan", "--role", "clerk", "--password-stdin",
                input=PASSWORD + "\n")
        self.token = run_cli(code, "node.cli", "token", "create", "--data", self.dir, "lan").strip()
        self.process = Process(code, ["node.cli", "run", "--data", str(self.dir), "--port", str(self.port)],
                               self.port, folder / f"{agency}.log", "/dang-nhap")

    def configure(self, **values) -> None:
        path = self.dir / "motcua.toml"
        text = path.read_text(encoding="utf-8")
        for key, value in values.items():
            text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
            if n != 1 and key != "sync_heartbeat_seconds":  # an older release has no heartbeat setting
                raise RuntimeError(f"no setting {key}")
        path.write_text(text, encoding="utf-8")

    def intakes(self, count: int, rng: random.Random, procedures: list[dict]) -> None:
        http = requests.Session()
        families, weights = [f for f, _ in FAMILY], [w for _, w in FAMILY]
        for _ in range(count):
            procedure = rng.choice(procedures)
            docs = [{"name": d["name"], "kind": "original", "count": 1}
                    for d in procedure["documents"][:rng.choice((1, 2))]] or \
                [{"name": "Tờ khai", "kind": "original", "count": 1}]
            body = {"procedure_code": procedure["code"],
                    "applicant": {"name": f"{rng.choices(families, weights)[0]} {rng.choice(MIDDLE)} "
                                          f"{rng.choice(GIVEN)}",
                                  "id_number": f"0{rng.randrange(10, 96)}{rng.choice('0123')}"
                                               f"{rng.randrange(10**8):08d}",
                                  "phone": f"09{rng.randrange(10**8):08d}",
                                  "address": f"Thôn {rng.choice(HAMLETS)}, xã Hòa Bình", "email": ""},
                    "documents": docs, "channel": "in_person", "return_method": "desk"}
            r = http.post(f"http://127.0.0.1:{self.port}/api/v1/dossiers", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}"})
            if r.status_code != 201:
                raise RuntimeError(f"intake answered {r.status_code}: {r.text[:200]}")

    def procedures(self) -> list[dict]:
        r = requests.get(f"http://127.0.0.1:{self.port}/api/v1/procedures", timeout=30,
                         headers={"Authorization": f"Bearer {self.token}"})
        data = r.json()
        return data["procedures"] if isinstance(data, dict) else data


def stored(central_dir: Path, agency: str) -> int:
    conn = sqlite3.connect(f"file:{central_dir / 'motcua-central.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM events WHERE node = ?", (agency,)).fetchone()[0]
    finally:
        conn.close()


def drain(code: Path, tmp: Path, central_dir: Path, proxy: BadLink, agency: str, intakes: int,
          seed: int, resets: int = 0, limit: float = 900, spread: int = 0) -> tuple[BenchNode, dict]:
    """``resets`` cuts, at even fractions of ``spread`` bytes sent up (the clean drain's). The intakes
    come from ``seed``: two drains with one seed make the same applicants, procedures and documents."""
    enrol = re.search(r"code: (\S+)", run_cli(code, "central.cli", "node", "add", "--data", central_dir,
                                              "--agency", agency, "--name", "UBND xã")).group(1)
    node = BenchNode(code, tmp, agency)
    node.configure(sync_interval_seconds=60, sync_backoff_cap_seconds=2, sync_heartbeat_seconds=900)
    run_cli(code, "node.cli", "enroll", "--data", node.dir, proxy.url, enrol)
    node.process.start()
    time.sleep(1.5)  # the worker's first cycle after start
    proxy.set(down=True)
    node.intakes(intakes, random.Random(seed), node.procedures())
    expected = intakes + 0
    time.sleep(0.5)
    proxy.reset_counters()
    proxy.set(down=False)
    started = time.perf_counter()
    cut_at = [(i + 1) / (resets + 1) for i in range(resets)]
    while stored(central_dir, agency) < expected:
        if cut_at and proxy.bytes_up >= cut_at[0] * spread:
            cut_at.pop(0)
            proxy.cut_all()
        if time.perf_counter() - started > limit:
            log(f"    gave up after {limit} s")
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    time.sleep(3 * RTT)  # the last reply reaches the node
    if proxy.trace is not None:
        show_trace(proxy.trace, started)
    figures = {"drain_s": elapsed, "up": proxy.bytes_up, "down": proxy.bytes_down, "requests": proxy.requests,
               "stored": stored(central_dir, agency), "resets_done": resets - len(cut_at)}
    return node, figures


def show_trace(trace: list[dict], started: float) -> None:
    """Each request through the link: when, where, bytes up and down, and whether a cut lost it."""
    for e in trace:
        if e["path"] == "CUT":
            log(f"    {e['t'] - started:7.2f} s  -- cut at {e['up']:,} B up")
        else:
            log(f"    {e['t'] - started:7.2f} s  {e['path'][:38]:<38} {e['up']:>7,} B up {e['down']:>6,} B down"
                f"{'  LOST' if e['cut'] else ''}")


def compression(node_dir: Path, batch: int = 400) -> None:
    """Plain gzip against the shared dictionary, on the v2 JSON of the node's own events, per batch."""
    import gzip
    import json
    sys.path.insert(0, str(ROOT))
    from protocol import wire2
    from protocol.canonical import canonical_json
    conn = sqlite3.connect(node_dir / "motcua-node.db")
    events = [json.loads(r[0]) for r in conn.execute("SELECT body FROM events ORDER BY seq")]
    conn.close()
    node = events[0]["node"]
    for size in (25, 100, batch):
        raws = [canonical_json({"events": wire2.encode_events(events[i:i + size], node)})
                for i in range(0, len(events), size)]
        row = []
        for name, fn in (("gzip -9", lambda r: gzip.compress(r, 9, mtime=0)),
                         ("gzip -6", lambda r: gzip.compress(r, 6, mtime=0)),
                         ("zlib+zdict -9", wire2.compress),
                         ("zlib+zdict -6", lambda r: wire2.compress(r, 6))):
            t = time.process_time()
            for _ in range(3):
                out = sum(len(fn(r)) for r in raws)
            cpu = (time.process_time() - t) / 3
            row.append(f"{name} {out / len(events):.1f} B/event {cpu / len(events) * 1e6:.0f} µs/event")
        try:
            import zstandard
            d = zstandard.ZstdCompressionDict(wire2.ZDICT)
            c = zstandard.ZstdCompressor(level=19, dict_data=d)
            t = time.process_time()
            out = sum(len(c.compress(r)) for r in raws)
            row.append(f"zstd -19+dict {out / len(events):.1f} B/event "
                       f"{(time.process_time() - t) / len(events) * 1e6:.0f} µs/event")
        except ImportError:
            pass
        log(f"  batches of {size}: " + "; ".join(row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose node and central run")
    parser.add_argument("--intakes", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=60, help="idle acceleration factor")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-idle", action="store_true", help="skip 3 (idle)")
    parser.add_argument("--trace", action="store_true", help="print every request of 1 and 2 (bytes, cuts)")
    args = parser.parse_args()
    code = args.code.resolve()
    log(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPU(s), "
        f"{platform.platform()}; code: {code}")
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="motcua-field-bench-"))
    central_dir = tmp / "central"
    run_cli(code, "central.cli", "init", "--data", central_dir, "--name", "UBND tỉnh Quảng Ninh", "--admin", "admin",
            "--password-stdin", input=PASSWORD + "\n")
    port = free_port()
    central = Process(code, ["central.cli", "run", "--data", str(central_dir), "--port", str(port)], port,
                      tmp / "central.log", "/").start()
    proxy = BadLink(port, rng).start()
    if args.trace:
        proxy.trace = []
    nodes = []
    try:
        log(f"\n1. {args.intakes} intakes queued offline, drained over the bad profile")
        node, clean = drain(code, tmp, central_dir, proxy, "000.00.06.H56", args.intakes, args.seed)
        nodes.append(node)
        total = clean["up"] + clean["down"]
        floor = clean["up"] / LINK_RATE + clean["requests"] * RTT
        log(f"  {clean['stored']} events stored in {clean['drain_s']:.1f} s; {clean['up']:,} B up + "
            f"{clean['down']:,} B down in {clean['requests']} requests = {total / args.intakes:.1f} B/record")
        log(f"  floor {clean['up']:,} B / {LINK_RATE} B/s + {clean['requests']} x {RTT} s = {floor:.1f} s; "
            f"drain / floor = {clean['drain_s'] / floor:.2f}")

        if (ROOT / "protocol" / "wire2.py").exists():
            log("\n   compression of the same v2 JSON (this node's events):")
            compression(node.dir)
        log("\n2. the same 1,000 intakes on a second node, with 5 connection resets during the drain")
        node2, cut = drain(code, tmp, central_dir, proxy, "000.00.06.H57", args.intakes, args.seed, resets=5,
                           spread=clean["up"])
        nodes.append(node2)
        cut_total = cut["up"] + cut["down"]
        log(f"  {cut['stored']} events stored in {cut['drain_s']:.1f} s after {cut['resets_done']} resets; "
            f"{cut_total:,} B = {100 * (cut_total / total - 1):+.1f} % against the clean drain")

        idle = float("nan")
        if not args.skip_idle:
            log(f"\n3. idle: an accelerated hour ({3600 / args.speed:.0f} s, intervals / {args.speed:.0f})")
            node2.process.stop()
            node.process.stop()
            node.configure(sync_interval_seconds=max(1, round(60 / args.speed)),
                           sync_heartbeat_seconds=max(1, round(900 / args.speed)))
            node.process.start()
            time.sleep(2 * RTT + 2)  # the start-up cycle is not idle traffic
            proxy.reset_counters()
            time.sleep(3600 / args.speed)
            idle = proxy.total
            log(f"  {idle:,} B in {proxy.requests} requests over the hour-equivalent = {idle * 24 / 1000:.1f} kB/day")
    finally:
        for n in nodes:
            n.process.stop()
        proxy.stop()
        central.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    log(f"\n{'figure':<44}{'value':>14}  target")
    log(f"{'bytes per record':<44}{total / args.intakes:>12.1f} B  <= 63 B")
    log(f"{'drain time':<44}{clean['drain_s']:>12.1f} s  <= 1.5 x floor = {1.5 * floor:.1f} s")
    log(f"{'idle bytes per day':<44}{idle * 24 / 1000:>11.1f} kB  <= 100 kB")
    log(f"{'extra bytes with 5 resets':<44}{100 * (cut_total / total - 1):>12.1f} %  <= 5 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
