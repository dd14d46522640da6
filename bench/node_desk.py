"""Benchmark of a commune node's desk: start-up, memory, intake latency and search latency.

    .venv/bin/python bench/node_desk.py              # full run, a few minutes on 2 cores
    .venv/bin/python bench/node_desk.py --dossiers 20000 --intakes 200   # quick look

What it does, each step on real SQLite files in a temp folder and a real server process:

1. init a node, add a clerk and an API token, start ``motcua-node run`` as a subprocess on a free
   loopback port; start-up time = process spawn until ``GET /dang-nhap`` answers 200; RSS from
   /proc/<pid>/status (VmRSS) right after start;
2. N intakes through ``POST /api/v1/dossiers`` one after another (requests.Session, Bearer
   token): p50/p95 latency, RSS afterwards;
3. a second node whose database is filled directly with 200,000 dossiers (states built by
   domain.workflow + domain.dossier.apply_event, a valid hash chain of events, rows inserted with
   executemany in a few big transactions), then ~200 searches through node.store.search (names
   without diacritics, partial names, ID numbers, phones, codes): p50/p95; then the same queries
   through ``GET /api/v1/dossiers?q=`` on a server started on that database.

It prints figures and a table against the targets; it asserts nothing and exits 0 even when a
target is missed (benchmarks are for people to read, never a test gate).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests
from benchlib import free_port, log, working_days_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from appshell import accounts  # noqa: E402
from appshell.sqlite import connect, write_tx  # noqa: E402
from domain import workflow  # noqa: E402
from domain.clock import local_now, today  # noqa: E402
from domain.codes import format_code  # noqa: E402
from domain.dossier import apply_event, project  # noqa: E402
from domain.text import fold  # noqa: E402
from node import reference, roles, store  # noqa: E402
from node.provision import init_node  # noqa: E402
from node.settings import DB_NAME, load_settings  # noqa: E402
from protocol.canonical import canonical_json  # noqa: E402
from protocol.events import GENESIS, event_hash, make_event  # noqa: E402

AGENCY = "000.00.06.H56"
PASSWORD = "Bench-pass-2026"

TARGETS = {  # figure -> (limit, unit)
    "rss_start": (80.0, "MB"),
    "rss_after_intakes": (80.0, "MB"),
    "startup": (2.0, "s"),
    "intake_p95": (50.0, "ms"),
    "search_p95": (100.0, "ms"),
    "search_http_p95": (100.0, "ms"),
    "rss_after_search": (80.0, "MB"),
}

# Family names weighted roughly like the population (Nguyễn ~ 38 %).
FAMILY = [("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Hoàng", 5), ("Huỳnh", 4), ("Phan", 4),
          ("Vũ", 4), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2), ("Ngô", 2), ("Dương", 1),
          ("Lý", 1), ("Đinh", 1), ("Đoàn", 1), ("Trịnh", 1), ("Lương", 1), ("Mai", 1), ("Tạ", 1)]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quốc", "Xuân", "Hoàng", "Thu", "Kim",
          "Anh", "Đình", "Công", "Thành", "Bảo", "Gia", "Khánh", "Phương", "Mạnh", "Trọng", "Thùy", "Quang"]
GIVEN = ["Dũng", "Hùng", "Lan", "Hương", "Mai", "Anh", "Tuấn", "Hoa", "Linh", "Nam", "Long", "Hải", "Phương",
         "Thảo", "Trang", "Hà", "Sơn", "Bình", "Cường", "Đạt", "Khánh", "Ngân", "Quân", "Tâm", "Yến", "Vy",
         "Huy", "Thắng", "Nga", "Oanh", "Hiếu", "Nhung", "Tùng", "Giang", "Hạnh", "Lộc", "Phúc", "Thủy",
         "Việt", "Vân", "Trung", "Đông", "Châu", "Tiến", "Dương", "Hằng", "Khoa", "Lợi", "My", "Ánh"]
HAMLETS = ["Đông", "Tây", "Nam", "Bắc", "Thượng", "Hạ", "Trung", "Tân Lập", "Hòa Bình", "Cẩm Phả"]
PHONE_PREFIXES = ["032", "033", "034", "035", "036", "037", "038", "039", "056", "058", "070", "076", "077",
                  "078", "079", "081", "082", "083", "084", "085", "086", "088", "089", "090", "091", "092",
                  "093", "094", "096", "097", "098", "099"]
PROVINCES = ["001", "022", "024", "025", "026", "030", "031", "033", "034", "036", "038", "040", "079"]


# --- helpers --------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary(ms: list[float]) -> str:
    return (f"n={len(ms)} p50={percentile(ms, 50):.2f} ms p95={percentile(ms, 95):.2f} ms "
            f"p99={percentile(ms, 99):.2f} ms max={max(ms):.2f} ms mean={statistics.fmean(ms):.2f} ms")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB -> MB (MiB)
    return float("nan")


def node_command() -> list[str]:
    """The console script next to this interpreter, or ``python -m node.cli`` without it."""
    script = Path(sys.executable).with_name("motcua-node")
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


class NodeProcess:
    """``motcua-node run`` in a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.startup_s = float("nan")

    def start(self, timeout: float = 30.0) -> NodeProcess:
        started = time.perf_counter()
        with open(self.data_dir / "bench-server.log", "wb") as out:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                [*node_command(), "run", "--data", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}; see {self.data_dir / 'bench-server.log'}")
            try:
                if requests.get(self.url + "/dang-nhap", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"node did not answer within {timeout} s")
            time.sleep(0.005)
        self.startup_s = time.perf_counter() - started
        return self

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_node(folder: Path) -> tuple[Path, str]:
    """A fresh node with a clerk 'lan'; returns its data folder and an API token for lan."""
    data = folder / "node"
    now = local_now()
    init_node(data, agency_code=AGENCY, agency_name="UBND xã Hòa Bình", admin="admin", password=PASSWORD,
              now=now, parent_name="UBND tỉnh Quảng Ninh")
    conn = connect(data / DB_NAME)
    try:
        clerk = accounts.create(conn, "lan", PASSWORD, "clerk", "Nguyễn Thị Lan", now, roles=roles.ROLES)
        token = accounts.create_token(conn, clerk, "bench", now, prefix=roles.TOKEN_PREFIX)
    finally:
        conn.close()
    return data, token


def documents(procedure, rng: random.Random) -> list[dict]:
    """The first two papers of the procedure; "either" (original or copy) is decided at the desk."""
    docs = []
    for d in procedure.documents[:2]:
        kind = d.kind if d.kind in ("original", "copy") else rng.choice(("original", "copy"))
        docs.append({"name": d.name, "kind": kind, "count": d.count})
    return docs


class People:
    """Random but plausible applicants: Vietnamese names, 12-digit IDs, mobile numbers."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.families = [f for f, _ in FAMILY]
        self.weights = [w for _, w in FAMILY]

    def name(self) -> str:
        r = self.rng
        middle = r.choice(MIDDLE)
        if r.random() < 0.25:
            middle += " " + r.choice(MIDDLE)
        return f"{r.choices(self.families, self.weights)[0]} {middle} {r.choice(GIVEN)}"

    def id_number(self) -> str:
        r = self.rng
        # province (3) + century/sex (1) + birth year (2) + 6 random digits
        return f"{r.choice(PROVINCES)}{r.choice('0123')}{r.randrange(100):02d}{r.randrange(10**6):06d}"

    def phone(self) -> str:
        return f"{self.rng.choice(PHONE_PREFIXES)}{self.rng.randrange(10**7):07d}"

    def applicant(self) -> dict:
        return {"name": self.name(), "id_number": self.id_number(), "phone": self.phone(),
                "address": f"Thôn {self.rng.choice(HAMLETS)}, xã Hòa Bình", "email": ""}


# --- 1 + 2: start-up, memory, intakes through the API ------------------------------------------

def bench_intakes(tmp: Path, n: int, rng: random.Random, figures: dict) -> None:
    data, token = make_node(tmp / "intake")
    conn = connect(data / DB_NAME)
    procedures = reference.procedures(conn)
    conn.close()
    people = People(rng)
    server = NodeProcess(data)
    try:
        server.start()
        figures["startup"] = server.startup_s
        time.sleep(0.2)
        figures["rss_start"] = server.rss_mb()
        log(f"  start-up {server.startup_s:.2f} s, RSS {figures['rss_start']:.1f} MB ({' '.join(node_command())})")

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        ms = []
        for i in range(n):
            p = rng.choice(procedures)
            body = {"procedure_code": p.code, "applicant": people.applicant(),
                    "documents": documents(p, rng),
                    "channel": "in_person", "return_method": "desk"}
            t = time.perf_counter()
            r = session.post(server.url + "/api/v1/dossiers", json=body, timeout=30)
            ms.append((time.perf_counter() - t) * 1000)
            if r.status_code != 201:
                raise RuntimeError(f"intake {i} answered {r.status_code}: {r.text[:300]}")
        figures["intake_ms"] = ms
        figures["intake_p50"] = percentile(ms, 50)
        figures["intake_p95"] = percentile(ms, 95)
        figures["rss_after_intakes"] = server.rss_mb()
        log(f"  {n} intakes: {summary(ms)}; {n / (sum(ms) / 1000):.0f} intakes/s")
        log(f"  RSS after intakes {figures['rss_after_intakes']:.1f} MB")
    finally:
        server.stop()


# --- 3: a 200,000-dossier database, search -----------------------------------------------------

class ChainWriter:
    """Appends events with a valid hash chain, the same rows node.events.append writes."""

    def __init__(self, node: str):
        self.node = node
        self.seq = 0
        self.prev = GENESIS
        self.rows: list[tuple] = []
        self.first_checked = False

    def append(self, *, type: str, dossier: str, data: dict, actor: str, at: str) -> dict:
        self.seq += 1
        event = make_event(node=self.node, seq=self.seq, prev=self.prev, at=at, actor=actor, type=type,
                           dossier=dossier, data=data)
        body = canonical_json(event)
        digest = hashlib.sha256(body).hexdigest()  # == event_hash(event), without a second serialisation
        if not self.first_checked:
            assert digest == event_hash(event)
            self.first_checked = True
        self.rows.append((event["seq"], event["id"], type, dossier, at, digest, body.decode("utf-8")))
        self.prev = digest
        return event


def build_big_database(tmp: Path, n: int, rng: random.Random) -> tuple[Path, str, dict]:
    """Fill a fresh node with n dossiers in a few big transactions; returns (data dir, token, samples)."""
    data, token = make_node(tmp / "search")
    settings = load_settings(data)
    conn = connect(data / DB_NAME)
    calendar = reference.CalendarCache(settings["working_hours"]).get(conn)
    procedures = reference.procedures(conn)
    catalogue_version = reference.version(conn, "catalogue")
    people = People(rng)

    per_day = 400
    days = working_days_until(calendar, today(), (n + per_day - 1) // per_day)
    last_day = days[-1]
    chain = ChainWriter(AGENCY)
    dossier_rows: list[tuple] = []
    columns: list[str] | None = None
    counters: dict[str, int] = {}
    samples = {"names": [], "ids": [], "phones": [], "codes": []}
    actors = ["lan", "hoa", "minh"]
    handlers = ["Trần Văn Hùng", "Lê Thị Mai", "Phạm Quốc Bảo"]
    written = 0
    batch = 50_000
    t0 = time.perf_counter()
    conn.execute("PRAGMA synchronous=OFF")  # building the fixture only; the server runs with FULL

    def flush():
        nonlocal dossier_rows, written
        with write_tx(conn):
            conn.executemany(f"INSERT INTO dossiers({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                             dossier_rows)
            conn.executemany("INSERT INTO events(seq, id, type, dossier, at, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             chain.rows)
        written += len(dossier_rows)
        dossier_rows, chain.rows = [], []
        log(f"    {written:,} dossiers, {chain.seq:,} events written ({time.perf_counter() - t0:.0f} s)")

    for i in range(n):
        day = days[i // per_day]
        day_seq = i % per_day + 1
        now = datetime.combine(day, datetime.min.time()).replace(hour=7, minute=30) + \
            timedelta(minutes=rng.randrange(0, 9 * 60))
        procedure = rng.choice(procedures)
        applicant = people.applicant()
        register_key = f"register:{day:%Y}"
        counters[register_key] = counters.get(register_key, 0) + 1
        counters[f"day:{AGENCY}:{day:%y%m%d}"] = day_seq
        code = format_code(AGENCY, day, day_seq)
        actor = rng.choice(actors)
        change = workflow.receive(
            procedure=procedure, applicant=applicant, documents=documents(procedure, rng),
            channel=rng.choice(("in_person", "in_person", "in_person", "post")), return_method="desk",
            code=code, agency=AGENCY, now=now, calendar=calendar, catalogue_version=catalogue_version,
            actor=actor, register_no=counters[register_key])
        state = apply_event(None, chain.append(type=change.type, dossier=code, data=change.data, actor=actor,
                                               at=workflow.iso(now)))
        # Older dossiers move on: most are returned, some still in processing, as on a real desk.
        age = (last_day - day).days
        steps = []
        if age > 14:
            steps = ["start", "resolve", "return"] if rng.random() < 0.85 else ["start"]
        elif age > 3 and rng.random() < 0.6:
            steps = ["start"]
        at = now
        for action in steps:
            at = at + timedelta(hours=rng.randrange(1, 40))
            params = {"handler": rng.choice(handlers)} if action == "start" else {}
            if action == "return":
                params = {"rating": str(rng.choice((5, 5, 5, 4, 4, 3)))}
            change = workflow.ACTIONS[action][0](state, params, at, calendar, procedure)
            state = apply_event(state, chain.append(type=change.type, dossier=code, data=change.data,
                                                    actor=actor, at=workflow.iso(at)))
        row = project(state)
        row["doc"] = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
        if columns is None:
            columns = list(row)
        dossier_rows.append(tuple(row[c] for c in columns))
        if i == 0 or rng.random() < 0.002:
            samples["names"].append(applicant["name"])
            samples["ids"].append(applicant["id_number"])
            samples["phones"].append(applicant["phone"])
            samples["codes"].append(code)
        if len(dossier_rows) >= batch:
            flush()
    if dossier_rows:
        flush()
    with write_tx(conn):
        conn.executemany("INSERT INTO counters(name, value) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value", list(counters.items()))
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = (data / DB_NAME).stat().st_size / 2**20
    log(f"  built {n:,} dossiers / {chain.seq:,} events in {time.perf_counter() - t0:.0f} s; database {size:.0f} MB")
    return data, token, samples


def search_queries(samples: dict, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, query) pairs: full names without diacritics, partial names, IDs, phones, codes."""
    queries = []
    kinds = ["name", "partial", "id", "phone", "code"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        j = rng.randrange(len(samples["names"]))
        if kind == "name":
            q = fold(samples["names"][j])
        elif kind == "partial":
            words = fold(samples["names"][j]).split()
            q = " ".join(words[:-1] + [words[-1][:1]])  # "nguyen van d"
        elif kind == "id":
            q = samples["ids"][j]
        elif kind == "phone":
            q = samples["phones"][j]
        else:
            q = samples["codes"][j]
        queries.append((kind, q))
    return queries


def bench_search(tmp: Path, n: int, n_queries: int, rng: random.Random, figures: dict) -> None:
    data, token, samples = build_big_database(tmp, n, rng)
    queries = search_queries(samples, n_queries, rng)

    conn = connect(data / DB_NAME)
    store.search(conn, "warm up")  # first touch of the FTS index
    ms, by_kind, hits = [], {}, {}
    for kind, q in queries:
        t = time.perf_counter()
        rows = store.search(conn, q)
        elapsed = (time.perf_counter() - t) * 1000
        ms.append(elapsed)
        by_kind.setdefault(kind, []).append(elapsed)
        hits.setdefault(kind, []).append(len(rows))
    conn.close()
    figures["search_p50"] = percentile(ms, 50)
    figures["search_p95"] = percentile(ms, 95)
    log(f"  store.search: {summary(ms)}")
    for kind, values in by_kind.items():
        log(f"    {kind:8} p50={percentile(values, 50):7.2f} ms p95={percentile(values, 95):7.2f} ms "
            f"max={max(values):7.2f} ms  rows/query median={statistics.median(hits[kind]):.0f} "
            f"(e.g. {next(q for k, q in queries if k == kind)!r})")

    server = NodeProcess(data)
    try:
        server.start()
        figures["startup_big"] = server.startup_s
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.get(server.url + "/api/v1/dossiers", params={"q": "warm up"}, timeout=30)
        http_ms = []
        for _kind, q in queries:
            t = time.perf_counter()
            r = session.get(server.url + "/api/v1/dossiers", params={"q": q}, timeout=30)
            http_ms.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"search {q!r} answered {r.status_code}: {r.text[:300]}")
        figures["search_http_p50"] = percentile(http_ms, 50)
        figures["search_http_p95"] = percentile(http_ms, 95)
        figures["rss_after_search"] = server.rss_mb()
        log(f"  GET /api/v1/dossiers?q=: {summary(http_ms)}")
        log(f"  server on the big database: start-up {server.startup_s:.2f} s, "
            f"RSS after searches {figures['rss_after_search']:.1f} MB")
    finally:
        server.stop()


# --- report -------------------------------------------------------------------------------------

def report(figures: dict, n_intakes: int, n_dossiers: int) -> None:
    rows = [
        ("start-up (spawn to GET /dang-nhap 200)", "startup", "s", 2),
        ("RSS after start", "rss_start", "MB", 1),
        (f"RSS after {n_intakes:,} intakes", "rss_after_intakes", "MB", 1),
        ("intake p95 (POST /api/v1/dossiers)", "intake_p95", "ms", 2),
        (f"search p95, store.search, {n_dossiers:,} dossiers", "search_p95", "ms", 2),
        (f"search p95, HTTP API, {n_dossiers:,} dossiers", "search_http_p95", "ms", 2),
        ("RSS after searches (big database)", "rss_after_search", "MB", 1),
    ]
    print()
    print(f"{'figure':<48} {'value':>12} {'target':>12}  result")
    print("-" * 82)
    for label, key, unit, digits in rows:
        value = figures.get(key)
        limit, _ = TARGETS[key]
        if value is None:
            print(f"{label:<48} {'—':>12} {'< ' + format(limit, 'g') + ' ' + unit:>12}  not measured")
            continue
        verdict = "ok" if value < limit else "MISSED"
        print(f"{label:<48} {value:>9.{digits}f} {unit:<2} {'< ' + format(limit, 'g') + ' ' + unit:>12}  {verdict}")
    print()
    for label, key in (("intake p50", "intake_p50"), ("store.search p50", "search_p50"),
                       ("HTTP search p50", "search_http_p50")):
        if key in figures:
            print(f"{label}: {figures[key]:.2f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intakes", type=int, default=1000, help="intakes through the API (default 1000)")
    parser.add_argument("--dossiers", type=int, default=200_000,
                        help="dossiers in the search database (default 200000)")
    parser.add_argument("--queries", type=int, default=200, help="search queries (default 200)")
    parser.add_argument("--seed", type=int, default=20260105, help="random seed (default 20260105)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and print its path")
    args = parser.parse_args(argv)

    print(f"motcua node desk benchmark — Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}")
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="motcua-bench-"))
    figures: dict = {}
    started = time.perf_counter()
    try:
        log(f"\n[1-2] start-up, memory and {args.intakes:,} intakes via the API")
        try:
            bench_intakes(tmp, args.intakes, rng, figures)
        except Exception as exc:  # report what we have; a benchmark never fails the build
            log(f"  FAILED: {type(exc).__name__}: {exc}")
        log(f"\n[3] search on {args.dossiers:,} dossiers ({args.queries} queries)")
        try:
            bench_search(tmp, args.dossiers, args.queries, rng, figures)
        except Exception as exc:
            log(f"  FAILED: {type(exc).__name__}: {exc}")
        report(figures, args.intakes, args.dossiers)
        print(f"\ntotal {time.perf_counter() - started:.0f} s")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
