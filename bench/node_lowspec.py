"""Low-spec node: desk latency while 15,000 events drain to central, the node pinned to one CPU core.

    .venv/bin/python bench/node_lowspec.py                 # full run, about a minute on 2 cores
    .venv/bin/python bench/node_lowspec.py --events 3000   # quick look
    .venv/bin/python bench/node_lowspec.py --link 20000    # through a 160 kbit/s link (a minute or two)

What it does, on real SQLite files in a temp folder and real server processes:

1. starts a real central (``motcua-central run``, not pinned) and a node (``motcua-node init``,
   a clerk, an API token), enrols the node, then writes a backlog straight into the node's
   database while it is stopped: dossiers received, started, resolved and returned on past
   working days (4 events each, ~15,000 events on a valid hash chain, built with the domain
   functions like bench/node_desk.py does);
2. starts ``motcua-node run`` under ``taskset -c 0`` (one core); its sync worker starts draining
   the backlog at once (on loopback by default: the drain is then as CPU-hungry as it gets;
   ``--link`` shapes the link instead). While it drains, a clerk thread posts intakes through the
   API (10 a second, far busier than a desk, to get enough samples from a drain of a few
   seconds) and a browser thread, logged in through the real form, loads pages (desk home,
   today's list, a dossier's page, a search; 20 a second); every request's latency is kept;
3. when central holds all of the node's events, the same load runs 5 more seconds (figures
   "after the drain", for comparison); peak RSS is VmHWM from /proc/<pid>/status.

Prints figures and a table against the targets; asserts nothing and exits 0 even when a target
is missed (benchmarks are for people to read).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests
from benchlib import cpu_seconds, log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from appshell.sqlite import connect, write_tx  # noqa: E402
from bench.node_desk import ChainWriter, People, documents, percentile, working_days_until  # noqa: E402
from domain import workflow  # noqa: E402
from domain.clock import today  # noqa: E402
from domain.codes import format_code  # noqa: E402
from domain.dossier import apply_event, project  # noqa: E402
from node import reference  # noqa: E402
from node.settings import DB_NAME, load_settings  # noqa: E402
from tests.e2e.harness import PY, Central, Node, Server, login  # noqa: E402

AGENCY = "000.00.06.H56"
TARGETS = {"intake_p95": (200.0, "ms"), "page_p95": (200.0, "ms"), "peak_rss": (120.0, "MB")}


def proc_status(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return "?"


def mb(value: str) -> float:
    return int(value.split()[0]) / 1024 if value[:1].isdigit() else float("nan")


def build_backlog(data: Path, n_events: int, rng: random.Random) -> int:
    """Dossiers taken through intake, start, resolve and return on past working days; returns events written."""
    settings = load_settings(data)
    conn = connect(data / DB_NAME)
    calendar = reference.CalendarCache(settings["working_hours"]).get(conn)
    procedures = reference.procedures(conn)
    catalogue_version = reference.version(conn, "catalogue")
    people = People(rng)
    n = max(1, n_events // 4)
    per_day = 200
    days = working_days_until(calendar, today() - timedelta(days=1), (n + per_day - 1) // per_day)
    chain = ChainWriter(AGENCY)
    rows, columns, counters = [], None, {}
    for i in range(n):
        day = days[i // per_day]
        now = datetime.combine(day, datetime.min.time()).replace(hour=7, minute=30) + \
            timedelta(minutes=rng.randrange(0, 8 * 60))
        procedure = rng.choice(procedures)
        register_key = f"register:{day:%Y}"
        counters[register_key] = counters.get(register_key, 0) + 1
        counters[f"day:{AGENCY}:{day:%y%m%d}"] = i % per_day + 1
        code = format_code(AGENCY, day, i % per_day + 1)
        change = workflow.receive(procedure=procedure, applicant=people.applicant(),
                                  documents=documents(procedure, rng), channel="in_person", return_method="desk",
                                  code=code, agency=AGENCY, now=now, calendar=calendar,
                                  catalogue_version=catalogue_version, actor="lan",
                                  register_no=counters[register_key])
        state = apply_event(None, chain.append(type=change.type, dossier=code, data=change.data, actor="lan",
                                               at=workflow.iso(now)))
        at = now
        for action, params in (("start", {"handler": "Trần Văn Hùng"}), ("resolve", {}),
                               ("return", {"rating": "5"})):
            at += timedelta(minutes=rng.randrange(10, 90))
            change = workflow.ACTIONS[action][0](state, params, at, calendar, procedure)
            state = apply_event(state, chain.append(type=change.type, dossier=code, data=change.data, actor="lan",
                                                    at=workflow.iso(at)))
        row = project(state)
        row["doc"] = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
        columns = columns or list(row)
        rows.append(tuple(row[c] for c in columns))
    with write_tx(conn):
        conn.executemany(f"INSERT INTO dossiers({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
        conn.executemany("INSERT INTO events(seq, id, type, dossier, at, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         chain.rows)
        conn.executemany("INSERT INTO counters(name, value) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value", list(counters.items()))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return chain.seq


class Load(threading.Thread):
    """Requests at a steady rate; latencies are filed under the current phase ("drain" or "after")."""

    def __init__(self, name: str, rate: float, request):
        super().__init__(daemon=True, name=name)
        self.interval, self.request = 1 / rate, request
        self.phase = "drain"
        self.samples: dict[str, dict[str, list[float]]] = {"drain": {}, "after": {}}
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            began = time.perf_counter()
            kind, ok, detail = self.request(i)
            ms = (time.perf_counter() - began) * 1000
            if ok:
                self.samples[self.phase].setdefault(kind, []).append(ms)
            else:
                self.failures.append(f"{kind}: {detail}")
            i += 1
            self.halt.wait(max(0.0, self.interval - (time.perf_counter() - began)))

    def all(self, phase: str) -> list[float]:
        return [v for values in self.samples[phase].values() for v in values]


def line(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<34} no samples"
    return (f"  {label:<34} n={len(values):4d}  p50={percentile(values, 50):7.1f} ms  "
            f"p95={percentile(values, 95):7.1f} ms  max={max(values):7.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=15_000, help="events in the backlog (default 15000)")
    parser.add_argument("--intake-rate", type=float, default=10, help="intakes per second (default 10)")
    parser.add_argument("--page-rate", type=float, default=20, help="page loads per second (default 20)")
    parser.add_argument("--link", type=int, default=0, metavar="BYTES_PER_S",
                        help="shape the node-central link to this many bytes/s each way through a proxy "
                             "(default 0: loopback, the drain as fast, and as CPU-hungry, as it gets)")
    parser.add_argument("--core", default="0", help="CPU list for taskset (default 0)")
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and print its path")
    args = parser.parse_args(argv)
    print(f"motcua low-spec node benchmark — Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}")
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="motcua-lowspec-"))
    central = node_server = proxy = None
    figures: dict = {}
    try:
        log("\n[1] central, an enrolled node and its backlog")
        central = Central(tmp)
        code = central.add_node(AGENCY)
        central.start()
        node = Node(tmp, AGENCY)
        if args.link:
            from tests.e2e.faultproxy import FaultProxy
            proxy = FaultProxy(central.port).start()
            proxy.set(bandwidth=args.link)
            node.enroll(proxy.url, code)
            log(f"  node-central link shaped to {args.link:,} bytes/s each way")
        else:
            node.enroll(central.url, code)
        t = time.perf_counter()
        written = build_backlog(node.dir, args.events, rng)
        log(f"  {written:,} events written into the node's database in {time.perf_counter() - t:.1f} s")

        pin = ["taskset", "-c", args.core] if shutil.which("taskset") else []
        if not pin:
            log("  taskset not found: the node runs UNPINNED")
        log(f"\n[2] node started {'pinned to CPU ' + args.core if pin else 'unpinned'}; "
            f"draining while the desk works")
        node_server = Server([*pin, PY, "-m", "node.cli", "run", "--data", str(node.dir), "--port", str(node.port)],
                             node.port, tmp / "node-server.log")
        started = time.perf_counter()
        node_server.start("/dang-nhap")
        pid = node_server.proc.pid
        log(f"  pid {pid}, Cpus_allowed_list {proc_status(pid, 'Cpus_allowed_list')}, "
            f"start-up {time.perf_counter() - started:.2f} s")
        cpu0 = cpu_seconds(pid)

        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {node.token}"
        people = People(random.Random(args.seed + 1))
        browser = login(node.url)
        conn = sqlite3.connect(f"file:{node.dir / DB_NAME}?mode=ro", uri=True, timeout=10)
        sample_codes = [r[0] for r in conn.execute("SELECT code FROM dossiers ORDER BY random() LIMIT 50")]

        def intake(i):
            r = api.post(node.url + "/api/v1/dossiers", timeout=30, json={
                "procedure_code": "1.001193", "applicant": people.applicant(),
                "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}]})
            return "intake", r.status_code == 201, r.status_code

        pages = [("desk home /", lambda i: "/"), ("today's list", lambda i: "/danh-sach/hom-nay"),
                 ("dossier page", lambda i: f"/ho-so/{sample_codes[i % len(sample_codes)]}"),
                 ("search by name", lambda i: "/tim-kiem?q=nguyen+van")]

        def page(i):
            kind, path = pages[i % len(pages)]
            r = browser.get(node.url + path(i), timeout=30)
            return kind, r.status_code == 200, r.status_code

        clerk, viewer = Load("clerk", args.intake_rate, intake), Load("viewer", args.page_rate, page)
        clerk.start()
        viewer.start()
        drain_started = time.perf_counter()
        acked = 0
        while True:
            acked = int((conn.execute("SELECT value FROM sync_state WHERE key = 'acked_seq'").fetchone() or [0])[0]
                        or 0)
            local = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
            if acked >= written and acked >= local - 50:
                break
            if time.perf_counter() - drain_started > 900:
                log("  gave up waiting after 15 minutes")
                break
            time.sleep(0.25)
        drain_s = time.perf_counter() - drain_started
        cpu_drain = cpu_seconds(pid) - cpu0
        clerk.phase = viewer.phase = "after"
        time.sleep(5)
        clerk.halt.set()
        viewer.halt.set()
        clerk.join(30)
        viewer.join(30)
        conn.close()
        figures["drain_s"] = drain_s
        figures["peak_rss"] = mb(proc_status(pid, "VmHWM"))
        figures["rss_end"] = mb(proc_status(pid, "VmRSS"))
        figures["intake_p95"] = percentile(clerk.all("drain"), 95)
        figures["page_p95"] = percentile(viewer.all("drain"), 95)

        log(f"  backlog of {written:,} events at central after {drain_s:.1f} s "
            f"({written / drain_s:,.0f} events/s); node CPU during the drain {cpu_drain:.1f} s "
            f"({100 * cpu_drain / drain_s:.0f} % of one core)")
        for phase, title in (("drain", "while draining"), ("after", "after the drain (5 s)")):
            log(f"\n  {title}:")
            log(line("intake POST /api/v1/dossiers", clerk.all(phase)))
            log(line("pages (all)", viewer.all(phase)))
            for kind, _ in pages:
                log(line(f"  {kind}", viewer.samples[phase].get(kind, [])))
        failures = clerk.failures + viewer.failures
        if failures:
            log(f"\n  {len(failures)} failed requests, e.g. {failures[:3]}")
        log(f"\n  node RSS: peak (VmHWM) {figures['peak_rss']:.1f} MB, at the end {figures['rss_end']:.1f} MB")
    except Exception as exc:  # a benchmark never fails the build: report what we have
        log(f"  FAILED: {type(exc).__name__}: {exc}")
    finally:
        if node_server:
            node_server.stop()
        if proxy:
            proxy.stop()
        if central:
            central.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    rows = [("intake p95 while draining", "intake_p95", "ms", 1),
            ("page render p95 while draining", "page_p95", "ms", 1),
            ("peak RSS of the node (VmHWM)", "peak_rss", "MB", 1)]
    print(f"\n{'figure':<40} {'value':>12} {'target':>12}  result")
    print("-" * 74)
    for label, key, unit, digits in rows:
        limit, _ = TARGETS[key]
        value = figures.get(key)
        if value is None or value != value:
            print(f"{label:<40} {'—':>12} {'< ' + format(limit, 'g') + ' ' + unit:>12}  not measured")
            continue
        verdict = "ok" if value < limit else "MISSED"
        print(f"{label:<40} {value:>9.{digits}f} {unit:<2} {'< ' + format(limit, 'g') + ' ' + unit:>12}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
