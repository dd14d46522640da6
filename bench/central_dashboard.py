"""Benchmark of central's overview and II.06a report on 100 communes and 1,000,000 dossiers.

    .venv/bin/python bench/central_dashboard.py                       # full run, ~2-4 minutes on 2 cores
    .venv/bin/python bench/central_dashboard.py --dossiers 100000     # quick look

1. Builds a central data folder (``central.provision.init_central``: migrations, keys, admin)
   and fills its database directly: 100 node rows (``--communes``) and 1,000,000 dossier rows
   (``--dossiers``) received over the two years before "now" (a fixed Monday, 15 June 2026
   10:00, so runs compare), with every projection column and a small ``doc`` (withdrawal,
   supplements: what the reports read from it). Older dossiers are mostly resolved
   early/on time/late and returned with a rating; some were withdrawn; recent ones are pending,
   some paused for a supplement. The indexes and the name-search triggers of the real schema are
   dropped during the bulk insert and re-created afterwards (same schema in the end, much faster
   than maintaining a dozen indexes row by row). No events: the reports read dossier rows only.
2. Times, best and median of ``--repeat`` runs, on a warm page cache:
   - the overview query: ``domain.reports.figures_sql`` per commune (key agency) for this month
     so far, and the overview page (``GET /``) if central's overview view is there;
   - a year's II.06a report: ``figures_sql`` per commune x field for 2025 (SQL path), the
     report page ``GET /bao-cao?from=2025-01-01&to=2025-12-31`` (SQL + render), and its XLSX
     export.
3. Prints figures and a table against the targets (< 1 s overview, < 3 s report). Asserts
   nothing; always exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from domain import reports  # noqa: E402
from domain.catalogue import load_sample_catalogue  # noqa: E402
from domain.text import fold  # noqa: E402

NOW = datetime(2026, 6, 15, 10, 0)  # a Monday
PASSWORD = "Bench-pass-2026"
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Đào", "Giang", "Hà", "Hùng", "Lan", "Minh", "Nam", "Phương", "Thảo"]
COLUMNS = ("code", "node", "agency", "procedure_code", "procedure_name", "field", "channel", "status", "handler",
           "holder", "received_at", "due_at", "resolved_at", "returned_at", "result_class", "rating",
           "supplement_count", "applicant_name", "name_folded", "id_number", "phone", "updated_at", "doc")


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


def workday_moment(rng: random.Random, day: date) -> datetime:
    minute = rng.randrange(480)
    start = datetime(day.year, day.month, day.day, 7, 0)
    return start + timedelta(minutes=minute if minute < 270 else minute + 120)


def dossier_rows(rng: random.Random, agencies: list[str], count: int, procedures, doc_bytes: int = 0):
    """Yield ``count`` dossier rows (tuples in COLUMNS order), receipt times spread over two years."""
    first = (NOW - timedelta(days=730)).date()
    days = [first + timedelta(days=i) for i in range(731) if (first + timedelta(days=i)).weekday() < 5]
    days = [d for d in days if d <= NOW.date()]
    per_code: dict[tuple[str, date], int] = {}
    for n in range(count):
        agency = agencies[n % len(agencies)]
        day = days[rng.randrange(len(days))]
        received = workday_moment(rng, day)
        if received > NOW:
            received -= timedelta(days=1)
        seq = per_code[(agency, day)] = per_code.get((agency, day), 0) + 1
        code = f"{agency}-{day:%y%m%d}-{seq:04d}"
        proc = procedures[rng.randrange(len(procedures))]
        limit_days = max(proc.limit_value, 1) if proc.limit_unit != "calendar_days" else proc.limit_value * 5 // 7
        due = received + timedelta(days=limit_days * 7 / 5)
        age_days = (NOW - received).days
        channel = rng.choices(("in_person", "online", "post"), (70, 25, 5))[0]
        status, resolved = 4, None
        result = returned = rating = None
        doc: dict = {"withdrawal": None, "supplements": []}
        if doc_bytes:  # the rest of a real state: applicant, documents, hand-offs ...
            doc["applicant"] = {"address": "Thôn Đông, xã Hòa Bình, tỉnh Quảng Ninh " * (doc_bytes // 45 + 1)}
        supplements = 0
        if rng.random() < 0.08:  # some dossiers waited for a supplement once or twice
            supplements = 1 if rng.random() < 0.8 else 2
            at = received + timedelta(hours=rng.randrange(4, 48))
            for _ in range(supplements):
                back = at + timedelta(hours=rng.randrange(2, 96))
                doc["supplements"].append({"requested_at": iso(at), "returned_at": iso(back)})
                at = back + timedelta(hours=rng.randrange(2, 48))
        open_chance = 0.85 if due > NOW else 0.1 if age_days < 30 else 0.003
        roll = rng.random()
        if roll < 0.02:  # withdrawn
            status = 8
            doc["withdrawal"] = {"at": iso(min(received + timedelta(days=rng.randrange(1, 5)), NOW)),
                                 "reason": "Công dân xin rút hồ sơ"}
        elif roll < 0.02 + open_chance:  # still open
            status = rng.choice((2, 4, 4, 4, 6))
            if supplements and rng.random() < 0.5:
                status = 5
                doc["supplements"][-1]["returned_at"] = None
        else:
            took = (due - received) * rng.choice((0.3, 0.6, 0.9, 1.0, 1.3))
            resolved = min(received + took, NOW - timedelta(minutes=5))
            result = "early" if resolved.date() < due.date() else "on_time" if resolved <= due else "late"
            status = 9
            if rng.random() < 0.9 and resolved + timedelta(days=1) < NOW:
                status, returned = 10, resolved + timedelta(days=1)
                rating = rng.choices((5, 4, 3, 2, 1, None), (40, 30, 10, 4, 1, 15))[0]
        if status not in (5,) and doc["supplements"] and doc["supplements"][-1]["returned_at"] is None:
            doc["supplements"][-1]["returned_at"] = iso(received + timedelta(days=1))
        name = f"{rng.choice(SURNAMES)} Văn {rng.choice(GIVEN)}"
        yield (code, agency, agency, proc.code, proc.name, proc.field, channel, status, None,
               "node", iso(received), iso(due), resolved and iso(resolved), returned and iso(returned), result,
               rating, supplements, name, fold(name), f"0012{rng.randrange(10**8):08d}",
               f"09{rng.randrange(10**8):08d}", iso(returned or resolved or received),
               json.dumps(doc, ensure_ascii=False, separators=(",", ":")))


def build(data_dir: Path, communes: int, count: int, seed: int, doc_bytes: int = 0) -> Path:
    from central.db import connect
    from central.provision import init_central
    from central.settings import DB_NAME
    init_central(data_dir, name="UBND tỉnh Quảng Ninh", admin="admin", password=PASSWORD, now=NOW)
    path = data_dir / DB_NAME
    conn = connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # bulk load only; the server reopens with FULL
    agencies = [f"000.{i // 100:02d}.{i % 100:02d}.H56" for i in range(1, communes + 1)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO nodes(id, name, status, created_at, enrolled_at) VALUES (?, ?, 'active', ?, ?)",
                     [(a, f"UBND xã {GIVEN[i % len(GIVEN)]} {i + 1}", iso(NOW), iso(NOW))
                      for i, a in enumerate(agencies)])
    conn.execute("COMMIT")
    schema = [(r["type"], r["name"], r["sql"]) for r in conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'dossiers' AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL")]
    for kind, name, _ in schema:
        conn.execute(f"DROP {kind.upper()} {name}")
    rng = random.Random(seed)
    procedures = load_sample_catalogue()[1]
    sql = f"INSERT INTO dossiers({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    rows = dossier_rows(rng, agencies, count, procedures, doc_bytes)
    started = time.perf_counter()
    while True:
        chunk = [row for _, row in zip(range(100_000), rows, strict=False)]  # up to 100 000 of the generator
        if not chunk:
            break
        conn.execute("BEGIN")
        conn.executemany(sql, chunk)
        conn.execute("COMMIT")
    inserted = time.perf_counter()
    for _kind, _, ddl in schema:
        conn.execute(ddl)
    has_fts = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'dossiers_fts'").fetchone()
    if has_fts:
        conn.execute("INSERT INTO dossiers_fts(dossiers_fts) VALUES ('rebuild')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"  inserted {count:,} dossier rows in {inserted - started:.1f} s; indexes"
          f"{' and name search' if has_fts else ''} rebuilt in {time.perf_counter() - inserted:.1f} s "
          f"({len(schema)} indexes/triggers); database {path.stat().st_size / 2**20:,.0f} MiB")
    return path


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--doc-bytes", type=int, default=0,
                        help="pad each dossier's doc to about this size, like real dossiers (1-2 kB)")
    parser.add_argument("--report-indexes", action="store_true",
                        help="add the two indexes domain/reports.py can use (proposed migration) before timing")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="a folder kept by an earlier --keep run: time it again without rebuilding")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    tmp = args.reuse or Path(tempfile.mkdtemp(prefix="motcua-bench-central-"))
    results: list[tuple[str, float, float, float]] = []
    try:
        total = time.perf_counter()
        if args.reuse:
            from central.settings import DB_NAME
            path = tmp / "central" / DB_NAME
            print(f"reusing {path}")
        else:
            print(f"building central with {args.communes} communes and {args.dossiers:,} dossiers ...")
            path = build(tmp / "central", args.communes, args.dossiers, args.seed, args.doc_bytes)
        conn = sqlite3.connect(path)
        if args.report_indexes:
            started = time.perf_counter()
            conn.execute(f"CREATE INDEX IF NOT EXISTS {reports.REPORT_INDEX} ON dossiers("
                         f"{', '.join(reports.REPORT_INDEX_COLUMNS)})")
            conn.execute("CREATE INDEX IF NOT EXISTS dossiers_returned ON dossiers(returned_at, rating)")
            print(f"  report indexes (proposed migration) built in {time.perf_counter() - started:.1f} s")
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        print(f"  covering report index: {'yes' if reports.REPORT_INDEX in indexes else 'no'}; "
              f"index on returned_at: {'yes' if 'dossiers_returned' in indexes else 'no'}")
        month = (NOW.date().replace(day=1), NOW.date())
        year = (date(2025, 1, 1), date(2025, 12, 31))
        best, median, table = timed(lambda: reports.figures_sql(conn, *month, NOW, key=("agency",)), args.repeat)
        results.append(("overview query (per commune, this month)", best, median, 1.0))
        print(f"  overview figures: {len(table.groups)} communes, received {table.total.received:,}, "
              f"pending {table.total.pending:,} (overdue {table.total.pending_overdue:,}), on-time rate "
              f"{table.total.on_time_rate:.1%}")
        best, median, table = timed(lambda: reports.figures_sql(conn, *year, NOW), args.repeat)
        results.append(("II.06a 2025 query (commune x field)", best, median, 3.0))
        print(f"  II.06a 2025: {len(table.groups):,} rows, carried over {table.total.carried_over:,}, received "
              f"{table.total.received:,}, resolved {table.total.resolved:,}, on-time rate "
              f"{table.total.on_time_rate:.1%}, average {table.total.average_days} days")
        conn.close()
        pages(tmp / "central", args.repeat, results)
        print()
        print(f"{'figure':<48} {'best':>8} {'median':>8} {'target':>8}")
        for name, best, median, target in results:
            mark = "ok" if median < target else "MISSED"
            print(f"{name:<48} {best:>7.3f}s {median:>7.3f}s {f'< {target:g}s':>8}  {mark}")
        print(f"\ntotal run time {time.perf_counter() - total:.0f} s")
    finally:
        if args.keep or args.reuse:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def pages(data_dir: Path, repeat: int, results: list) -> None:
    """The overview and report pages through central's Flask app (real templates, real SQLite)."""
    try:
        from central.app import create_app
        app = create_app({"DATA_DIR": data_dir, "CLOCK": lambda: NOW, "TESTING": True, "WTF_CSRF_ENABLED": False})
    except Exception as exc:  # noqa: BLE001 - the web product may be incomplete on this checkout
        print(f"  pages skipped: central's app does not start here ({type(exc).__name__}: {exc})")
        return
    if "reports" not in app.blueprints:
        from central.views import reports as report_views
        app.register_blueprint(report_views.bp)
    client = app.test_client()
    r = client.post("/dang-nhap", data={"username": "admin", "password": PASSWORD})
    if r.status_code != 302:
        print(f"  pages skipped: login answered {r.status_code}")
        return

    def get(url):
        def fetch():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response.data
        return fetch

    checks = [("overview page GET / (this month)", "/", 1.0),
              ("II.06a 2025 page (SQL + render)", "/bao-cao?from=2025-01-01&to=2025-12-31", 3.0),
              ("II.06a 2025 XLSX export", "/bao-cao/ii06a.xlsx?from=2025-01-01&to=2025-12-31", 3.0)]
    for name, url, target in checks:
        try:
            best, median, body = timed(get(url), repeat)
        except Exception as exc:  # noqa: BLE001 - a missing page is reported, never fatal
            print(f"  {name} skipped: {type(exc).__name__}: {exc}")
            continue
        results.append((name, best, median, target))
        rows = len(re.findall(rb'<tr class="row"', body))
        print(f"  {name}: {len(body) / 1024:.0f} KiB" + (f", {rows:,} commune x field rows" if rows else ""))


if __name__ == "__main__":
    sys.exit(main())
