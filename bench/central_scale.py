"""Central on SQLite and on PostgreSQL side by side, in one run, with their ratio.

    .venv/bin/python bench/central_scale.py                              # 1 M and 3 M dossiers (long, big disk)
    .venv/bin/python bench/central_scale.py --dossiers 1000000           # the 1 M point only
    .venv/bin/python bench/central_scale.py --dossiers 20000 --events 10 # a quick look while developing

For each engine:
1. Ingest: a fresh central process (``motcua-central run``, waitress, 8 threads) and ``--nodes`` (50)
   wire-level nodes (tests/central/conftest.FakeNode: own key, signed batches, hash chain) pushing
   ``--events`` dossier intakes each, ``--batch`` events per push, all at once over loopback HTTP.
   Reported: events stored per second, wall time from the first push to the last acknowledgement.
2. Reports at each size in ``--dossiers``: a central database filled with that many dossier rows over
   100 communes and two years (the rows of bench/central_dashboard.py; SQLite by executemany, PostgreSQL
   by COPY, indexes rebuilt afterwards; then ANALYZE), timed on a warm cache, best of ``--repeat``:
   - the overview's query (figures per commune for this month so far, ``central.store.reports.figures``);
   - a year-long II.06a (figures per commune x field for 2025).

PostgreSQL runs as a throw-away cluster on loopback (tests/pgcluster.py), default settings but
``shared_buffers`` 256 MB, ``jit`` off, ``synchronous_commit`` on. Prints a table and asserts nothing.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench.central_dashboard import COLUMNS, GIVEN, NOW, PASSWORD, build, dossier_rows, iso  # noqa: E402
from domain import reports  # noqa: E402
from domain.catalogue import load_sample_catalogue  # noqa: E402


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --- ingest ----------------------------------------------------------------------------------------

def ingest(root: Path, database: str, nodes: int, events: int, batch: int) -> dict:
    import requests

    from domain.clock import local_now
    from tests.central.conftest import FakeNode
    from tests.conftest import Clock
    from tests.e2e.harness import Central

    central = Central(root, database=database)
    central.start()
    try:
        clock = Clock(local_now().replace(microsecond=0))
        fakes = []
        for n in range(nodes):
            agency = f"000.00.{n + 10:02d}.H56"
            fake = FakeNode(clock, agency)
            session = requests.Session()
            r = session.post(central.url + _enrol_path(),
                             json=_enrol_body(fake, central.add_node(agency, f"Xã {n}")), timeout=60)
            assert r.status_code == 200, r.text
            for _ in range(events):
                fake.receive()
            fakes.append((fake, session))
        failures = []

        def push(fake, session):
            for start in range(0, len(fake.events), batch):
                part = fake.events[start:start + batch]
                body, signature = fake.seal(fake.payload(events=part, pending=len(fake.events) - start,
                                                         oldest_pending_at=part[0]["at"]))
                r = session.post(central.url + _push_path(), data=body, headers=_headers(fake, signature), timeout=120)
                if r.status_code != 200:
                    failures.append(r.status_code)
                    return

        threads = [threading.Thread(target=push, args=pair) for pair in fakes]
        started = time.perf_counter()
        [t.start() for t in threads]
        [t.join() for t in threads]
        wall = time.perf_counter() - started
        stored = central.db().execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return {"events": stored, "seconds": wall, "rate": stored / wall, "failures": len(failures)}
    finally:
        central.stop()


def _enrol_path():
    from protocol import sync as wire
    return wire.ENROLL


def _push_path():
    from protocol import sync as wire
    return wire.PUSH


def _enrol_body(fake, code):
    from protocol import keys
    return {"code": code, "public_key": keys.public_b64(fake.key), "agency_code": fake.agency}


def _headers(fake, signature):
    from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER
    return {NODE_HEADER: fake.agency, SIGNATURE_HEADER: signature, "Content-Encoding": "gzip",
            "Content-Type": "application/json"}


# --- filling a database ----------------------------------------------------------------------------

def build_postgres(cluster, name: str, communes: int, count: int, seed: int) -> str:
    from central.provision import init_central
    url = cluster.create_database(name)
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-scale-pg-"))
    shutil.rmtree(data_dir)
    init_central(data_dir, name="UBND tỉnh Quảng Ninh", admin="admin", password=PASSWORD, now=NOW, database=url)
    shutil.rmtree(data_dir, ignore_errors=True)
    import psycopg
    agencies = [f"000.{i // 100:02d}.{i % 100:02d}.H56" for i in range(1, communes + 1)]
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO nodes(id, name, status, created_at, enrolled_at) VALUES (%s, %s, 'active', %s, %s)",
                [(a, f"UBND xã {GIVEN[i % len(GIVEN)]} {i + 1}", iso(NOW), iso(NOW)) for i, a in enumerate(agencies)])
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'dossiers' AND "
                               "indexname NOT IN ('dossiers_pkey', 'dossiers_code_key')").fetchall()
        for index, _ in indexes:
            conn.execute(f"DROP INDEX {index}")
        started = time.perf_counter()
        rows = dossier_rows(random.Random(seed), agencies, count, load_sample_catalogue()[1])
        with conn.cursor().copy(f"COPY dossiers({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        inserted = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            conn.execute(ddl)
        conn.execute("VACUUM ANALYZE dossiers")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    log(f"  postgresql: {count:,} rows copied in {inserted - started:.1f} s, {len(indexes)} indexes rebuilt in "
        f"{time.perf_counter() - inserted:.1f} s; database {size / 2**20:,.0f} MiB")
    return url


def build_sqlite(root: Path, communes: int, count: int, seed: int) -> Path:
    path = build(root, communes, count, seed)
    import sqlite3
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.close()
    return path


# --- timing ----------------------------------------------------------------------------------------

def best(fn, repeat: int) -> float:
    fn()  # warm the cache
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def report_times(target, repeat: int) -> dict:
    from central.db import connect
    from central.store import reports as report_store
    conn = connect(target)
    try:
        month = reports.Period(date(NOW.year, NOW.month, 1), NOW.date())
        year = reports.Period(date(2025, 1, 1), date(2025, 12, 31))
        return {"overview": best(lambda: report_store.figures(conn, month, NOW, key=("agency",)), repeat),
                "ii06a_year": best(lambda: report_store.figures(conn, year, NOW, key=("agency", "field")), repeat)}
    finally:
        conn.close()


def ratio(pg: float, lite: float, higher_is_better: bool = False) -> str:
    if not lite or not pg:
        return "-"
    return f"{(pg / lite if higher_is_better else lite / pg):.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", default="1000000,3000000", help="comma-separated sizes")
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--events", type=int, default=40, help="intakes pushed by each node")
    parser.add_argument("--batch", type=int, default=10, help="events per push")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.dossiers.split(",") if s.strip()]

    from tests import pgcluster
    if not pgcluster.available():
        log("PostgreSQL is not installed (Debian: apt install postgresql); nothing to compare.")
        return 0
    log(f"central_scale: {args.nodes} nodes x {args.events} events (batches of {args.batch}); "
        f"reports at {', '.join(f'{s:,}' for s in sizes)} dossiers over {args.communes} communes")
    cluster = pgcluster.Cluster.create(settings={"shared_buffers": "256MB", "synchronous_commit": "on", "jit": "off"})
    import os
    import platform
    import sqlite3
    log(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{cluster.sql('SELECT version()')[0][0].split(' on ')[0]}, {os.cpu_count()} CPUs, {platform.platform()}")
    root = Path(tempfile.mkdtemp(prefix="motcua-scale-"))
    results: dict = {}
    try:
        log("ingest ...")
        results["ingest", "sqlite"] = ingest(root / "ingest-sqlite", "", args.nodes, args.events, args.batch)
        results["ingest", "postgresql"] = ingest(root / "ingest-pg", cluster.create_database("ingest"),
                                                 args.nodes, args.events, args.batch)
        for size in sizes:
            log(f"{size:,} dossiers ...")
            folder = root / f"sqlite-{size}"
            path = build_sqlite(folder, args.communes, size, args.seed)
            results[size, "sqlite"] = report_times(path, args.repeat)
            shutil.rmtree(folder, ignore_errors=True)
            url = build_postgres(cluster, f"scale_{size}", args.communes, size, args.seed)
            results[size, "postgresql"] = report_times(url, args.repeat)
            cluster.drop_database(f"scale_{size}")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    lite, pg = results["ingest", "sqlite"], results["ingest", "postgresql"]
    log()
    log(f"{'measure':44} {'SQLite':>12} {'PostgreSQL':>12} {'PG vs SQLite':>13}")
    log(f"{'ingest, events/s (' + str(args.nodes) + ' nodes at once)':44} {lite['rate']:12,.0f} {pg['rate']:12,.0f} "
        f"{ratio(pg['rate'], lite['rate'], True):>13}")
    for size in sizes:
        a, b = results[size, "sqlite"], results[size, "postgresql"]
        log(f"{f'overview query, {size:,} dossiers (s)':44} {a['overview']:12.3f} {b['overview']:12.3f} "
            f"{ratio(b['overview'], a['overview']):>13}")
        log(f"{f'II.06a year, {size:,} dossiers (s)':44} {a['ii06a_year']:12.3f} {b['ii06a_year']:12.3f} "
            f"{ratio(b['ii06a_year'], a['ii06a_year']):>13}")
    log("(ratio: how many times faster PostgreSQL is; below 1x it is slower)")
    if lite["failures"] or pg["failures"]:
        log(f"pushes refused: SQLite {lite['failures']}, PostgreSQL {pg['failures']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
