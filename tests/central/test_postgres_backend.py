"""Central on PostgreSQL: the same migrations, the connection adapter, the report twin, search, roles.

The rest of central's suite runs on both engines (``--central-db``); these tests look at what is
specific to the second engine. They use a real PostgreSQL cluster (tests/pgcluster.py).
"""
from __future__ import annotations

import json

import pytest

from central.store import backend, dialect, search
from central.store import reports as report_store
from domain import reports
from domain.dossier import project
from migrations import central_pg
from migrations.central import migrations as sqlite_migrations
from tests.domain.test_reports import AGENCIES, NOWS, PERIODS, simulate


def test_both_engines_have_the_same_migration_steps_by_name():
    assert [m.name for m in sqlite_migrations._migrations] == central_pg.NAMES


# --- the adapter's translation -------------------------------------------------------------------

def test_the_adapter_turns_sqlite_placeholders_into_psycopgs_and_keeps_string_literals_intact():
    text, returns_id = backend.translate("SELECT * FROM dossiers WHERE code LIKE ? AND note = 'a ? 100%' "
                                         "AND x::text = :name")
    assert text == "SELECT * FROM dossiers WHERE code LIKE %s AND note = 'a ? 100%%' AND x::text = %(name)s"
    assert not returns_id


def test_the_adapter_maps_insert_or_ignore_hints_and_returns_new_ids():
    assert backend.translate("INSERT OR IGNORE INTO forks(node) VALUES (?)")[0] == \
        "INSERT INTO forks(node) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"
    assert backend.translate("SELECT 1 FROM dossiers d INDEXED BY dossiers_holder WHERE 1")[0] == \
        "SELECT 1 FROM dossiers d WHERE 1"
    assert backend.translate("INSERT INTO batches(node) VALUES (?)") == \
        ("INSERT INTO batches(node) VALUES (%s) RETURNING id", True)
    assert backend.translate("INSERT INTO feed(node) VALUES (?)") == ("INSERT INTO feed(node) VALUES (%s)", False)


def test_a_database_url_in_a_message_never_shows_its_password():
    assert backend.redacted("postgresql://motcua:s3cret@db:5432/central") == "postgresql://motcua:***@db:5432/central"


# --- on a real server ----------------------------------------------------------------------------

@pytest.fixture
def pg(pg_database):
    conn = backend.connect_postgres(pg_database)
    yield conn
    conn.close()


def test_rows_read_like_sqlite_rows_by_position_and_name(pg):
    row = pg.execute("SELECT 1 AS one, 'hai' AS two").fetchone()
    assert (row[0], row["two"], dict(row), tuple(row)) == (1, "hai", {"one": 1, "two": "hai"}, (1, "hai"))


def test_a_write_transaction_holds_centrals_advisory_lock_until_it_ends(pg, pg_database):
    from appshell.sqlite import write_tx
    other = backend.connect_postgres(pg_database)
    try:
        with write_tx(pg):
            assert pg.in_transaction
            held = other.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                 "AND ((classid::bigint << 32) | objid::bigint) = ?", (backend.WRITE_LOCK,)).fetchone()
            assert held[0] == 1
            # another process's writer must wait: a lock it cannot take right now
            assert other.execute("SELECT pg_try_advisory_xact_lock(?)", (backend.WRITE_LOCK,)).fetchone()[0] is False
        assert not pg.in_transaction
        assert other.execute("SELECT pg_try_advisory_lock(?)", (backend.WRITE_LOCK,)).fetchone()[0] is True
        other.execute("SELECT pg_advisory_unlock(?)", (backend.WRITE_LOCK,))
    finally:
        other.close()


def test_a_failed_write_transaction_leaves_nothing_behind(pg):
    from appshell.sqlite import write_tx
    with pytest.raises(RuntimeError), write_tx(pg):
        pg.execute("INSERT INTO nodes(id, name, status, created_at) VALUES (?, ?, 'pending', ?)",
                   ("000.00.06.H56", "UBND xã Hòa Bình", "2026-01-05T09:00:00"))
        raise RuntimeError("refused half-way")
    assert pg.execute("SELECT count(*) FROM nodes").fetchone()[0] == 0


def test_migrating_twice_applies_nothing_the_second_time(pg_database):
    from central.db import migrate
    assert migrate(pg_database) == []


def test_centrals_role_owns_its_tables_without_superuser_rights(pg):
    role = pg.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication FROM pg_roles "
                      "WHERE rolname = current_user").fetchone()
    assert tuple(role) == (False, False, False, False)
    owners = {r[0] for r in pg.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert owners == {pg.execute("SELECT current_user").fetchone()[0]}


def _sqlite_central(tmp_path):
    from central.db import connect, migrate
    path = tmp_path / "central.db"
    migrate(path)
    return connect(path)


def _fill(conn, states) -> None:
    from appshell.sqlite import write_tx
    with write_tx(conn):
        for agency in AGENCIES:
            conn.execute("INSERT INTO nodes(id, name, status, created_at) VALUES (?, ?, 'active', ?)",
                         (agency, f"Xã {agency}", "2025-12-01T00:00:00"))
        for state in states:
            row = project(state)
            row.update(node=state["agency"], doc=json.dumps(state, ensure_ascii=False))
            columns = list(row)
            conn.execute(f"INSERT INTO dossiers({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         tuple(row[c] for c in columns))


@pytest.mark.parametrize("seed", range(3))
def test_the_postgresql_report_twin_gives_the_same_tables_as_sqlite_on_random_dossiers(tmp_path, pg, seed):
    states = simulate(100 + seed, 400)
    lite = _sqlite_central(tmp_path)
    try:
        _fill(lite, states)
        _fill(pg, states)
        for start, end in PERIODS:
            period = reports.Period(start, end)
            for now in NOWS:
                for key in (("agency", "field"), ("agency",), ()):
                    expected = report_store.figures(lite, period, now, key=key)
                    assert report_store.figures(pg, period, now, key=key) == expected, (start, end, now, key)
            assert report_store.ratings(pg, period) == report_store.ratings(lite, period)
            assert report_store.document(pg, period, NOWS[0]) == report_store.document(lite, period, NOWS[0])
    finally:
        lite.close()


def test_the_report_reads_a_processing_time_it_cannot_parse_as_nothing_not_an_error(pg):
    assert pg.execute("SELECT motcua_epoch('2026-02-30T09:00:00'), motcua_epoch('hôm qua'), motcua_epoch(NULL), "
                      "motcua_epoch('2026-01-31T10:00:00') - motcua_epoch('2026-01-31T09:00:00')").fetchone() == \
        (None, None, None, 3600)


NAMES = ["Nguyễn Văn Dũng", "Đặng Thị Đào", "Trần Đức Anh", "Lê Thị Ánh Tuyết", "Phạm Quốc Đạt"]


def test_a_name_typed_without_diacritics_finds_it_on_postgresql_d_stroke_included(pg):
    states = simulate(7, 5)
    for state, name in zip(states, NAMES, strict=True):  # simulate(_, 5): one state per name
        state["applicant"]["name"] = name
    _fill(pg, states)
    found = {q: [r["applicant_name"] for r in search.search(pg, q)] for q in
             ("nguyen van dung", "dang thi dao", "DANG THI D", "duc anh", "ánh tuyet", "dat")}
    assert found["nguyen van dung"] == ["Nguyễn Văn Dũng"]
    assert found["dang thi dao"] == ["Đặng Thị Đào"] == found["DANG THI D"]
    assert found["duc anh"] == ["Trần Đức Anh"]
    assert found["ánh tuyet"] == ["Lê Thị Ánh Tuyết"]
    assert found["dat"] == ["Phạm Quốc Đạt"]
    pg.execute("SET enable_seqscan = off")  # five rows: make the planner show whether it can use the index
    plan = "\n".join(r[0] for r in pg.execute(
        "EXPLAIN " + dialect.POSTGRES.newest_name_matches(in_node=False).replace("?", "'nguyen <-> van'", 1)
        .replace("?", "10")))
    assert "dossiers_fts" in plan  # the GIN index, not a scan of every row


def test_init_with_a_database_url_puts_central_on_postgresql_and_refuses_one_already_in_use(tmp_path, pg_database):
    from click.testing import CliRunner

    from central.cli import main
    from central.settings import load_settings
    args = ["init", "--name", "UBND tỉnh Quảng Ninh", "--admin", "admin", "--password-stdin", "--database"]
    made = CliRunner().invoke(main, [*args[:1], "--data", str(tmp_path / "a"), *args[1:], pg_database],
                              input="Admin-pass-2026\n")
    assert made.exit_code == 0, made.output
    assert load_settings(tmp_path / "a")["database"] == pg_database
    assert not (tmp_path / "a" / "motcua-central.db").exists()  # no SQLite file beside it
    again = CliRunner().invoke(main, [*args[:1], "--data", str(tmp_path / "b"), *args[1:], pg_database],
                               input="Admin-pass-2026\n")
    assert again.exit_code == 2 and "already holds central's data" in again.output
    assert not (tmp_path / "b").exists()  # nothing half-made


def test_init_with_an_unreachable_database_says_so_in_one_line_without_the_password(tmp_path):
    from click.testing import CliRunner

    from central.cli import main
    from tests.pgcluster import free_port
    url = f"postgresql://motcua:hunter2-secret@127.0.0.1:{free_port()}/motcua"
    result = CliRunner().invoke(main, ["init", "--data", str(tmp_path / "c"), "--name", "UBND tỉnh", "--admin",
                                       "admin", "--password-stdin", "--database", url], input="Admin-pass-2026\n")
    assert result.exit_code == 2
    assert "cannot connect" in result.output and "hunter2" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "c").exists()


def test_the_overview_and_every_export_it_links_answer_on_either_engine(admin, central_backend):
    for path in ("/", "/so-hoa.csv", "/bao-cao/ii06a.csv", "/bao-cao/ii06a.xlsx", "/bao-cao", "/ho-so?q=nguyen"):
        response = admin.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:500])


def test_two_central_processes_migrating_one_empty_database_at_once_apply_each_step_once(pg_cluster):
    import threading

    from central.db import migrate
    url = pg_cluster.create_database("central_race")
    try:
        applied, errors = [], []

        def run():
            try:
                applied.append(migrate(url))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
        threads = [threading.Thread(target=run) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert errors == []
        assert sorted(name for names in applied for name in names) == sorted(central_pg.NAMES)
        conn = backend.connect_postgres(url)
        try:
            assert [r[0] for r in conn.execute("SELECT name FROM motcua_migrations ORDER BY name")] == central_pg.NAMES
        finally:
            conn.close()
    finally:
        pg_cluster.drop_database("central_race")
