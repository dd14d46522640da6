"""Backups while the node serves, retention, restore into a stopped node, the daily thread, the run lock."""
from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from appshell.sqlite import connect
from node import backup, events, sync_state
from node.backup import BackupScheduler, choose_kept, file_problems, list_backups, make_backup, prune
from node.cli import main
from node.db import FolderLock, is_locked
from node.settings import DB_NAME, load_settings
from tests.conftest import AGENCY, receive, wait_until
from tests.e2e.harness import APPLICANT, Central, Node, cli, login


def db_values(data: Path, sql: str, *args):
    conn = connect(data / DB_NAME)
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def state(data: Path, key: str):
    conn = connect(data / DB_NAME)
    try:
        return sync_state.get(conn, key)
    finally:
        conn.close()


# --- retention -------------------------------------------------------------------------------

def test_retention_keeps_the_newest_backup_of_each_of_the_last_days_and_weeks():
    start = datetime(2026, 1, 1, 18, 0)
    stamps = [start + timedelta(days=d, hours=h) for d in range(60) for h in (0, 3)]  # two a day
    newest = max(stamps)
    assert newest == datetime(2026, 3, 1, 21, 0)  # a Sunday: its ISO week is exactly the last 7 days
    kept = choose_kept(stamps, keep_daily=7, keep_weekly=4)
    daily = {datetime(2026, 3, d, 21, 0) if d else datetime(2026, 2, 28, 21, 0) for d in range(0, 2)}
    daily |= {datetime(2026, 2, d, 21, 0) for d in range(23, 29)}
    weekly = {datetime(2026, 2, 22, 21, 0), datetime(2026, 2, 15, 21, 0), datetime(2026, 2, 8, 21, 0)}
    assert kept == daily | weekly and len(kept) == 10
    assert choose_kept(stamps, keep_daily=1, keep_weekly=0) == {newest}


def test_prune_deletes_only_backups_outside_the_rule_and_never_other_files(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    start = datetime(2026, 3, 2, 18, 0)
    for d in range(40):
        (folder / backup.backup_name(start + timedelta(days=d))).write_bytes(b"x")
    (folder / "pre-migrate-20260101-000000.db").write_bytes(b"keep me")
    (folder / "notes.txt").write_text("keep me")
    removed = prune(folder, keep_daily=7, keep_weekly=4)
    left = [p.name for _, p in list_backups(folder)]
    # newest: Friday 10 April; kept: 4-10 April (7 days), then Sundays 29 and 22 March (two more weeks)
    assert left == [backup.backup_name(start + timedelta(days=d)) for d in (39, 38, 37, 36, 35, 34, 33, 27, 20)]
    assert len(removed) == 31
    assert (folder / "pre-migrate-20260101-000000.db").exists() and (folder / "notes.txt").exists()


# --- making backups --------------------------------------------------------------------------

def test_backup_command_writes_a_verified_copy_named_by_date_and_records_it(node_dir, ctx):
    codes = [receive(ctx)["code"] for _ in range(3)]
    result = CliRunner().invoke(main, ["backup", "--data", str(node_dir)])
    assert result.exit_code == 0, result.output
    assert "integrity_check ok" in result.output
    (stamp, path), = list_backups(node_dir / "backups")
    assert path.name.startswith(f"motcua-node-{stamp:%Y%m%d-%H%M%S}")
    assert file_problems(path, full=True, chain=True, agency=AGENCY) == []
    assert not Path(f"{path}-wal").exists()  # one self-contained file, fit to carry on a USB disk
    copy = sqlite3.connect(path)
    assert {r[0] for r in copy.execute("SELECT code FROM dossiers")} == set(codes)
    copy.close()
    assert state(node_dir, "last_backup_path") == str(path)
    assert datetime.fromisoformat(state(node_dir, "last_backup_at")) == stamp


def test_backup_to_a_folder_given_on_the_command_line_and_to_the_configured_folder(node_dir, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    assert CliRunner().invoke(main, ["backup", "--data", str(node_dir), "--to", str(usb / "motcua")]).exit_code == 0
    assert len(list_backups(usb / "motcua")) == 1
    config = node_dir / "motcua.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('backup_dir = ""', f"backup_dir = '{usb / 'cfg'}'"),
                      encoding="utf-8")
    assert CliRunner().invoke(main, ["backup", "--data", str(node_dir)]).exit_code == 0
    assert len(list_backups(usb / "cfg")) == 1


def test_a_backup_to_an_unplugged_usb_disk_fails_clearly_and_is_recorded(node_dir, tmp_path):
    config = node_dir / "motcua.toml"
    missing = tmp_path / "media" / "usb" / "motcua"
    config.write_text(config.read_text(encoding="utf-8").replace('backup_dir = ""', f"backup_dir = '{missing}'"),
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["backup", "--data", str(node_dir)])
    assert result.exit_code == 1
    assert "is the USB disk plugged in?" in result.output
    assert "USB disk" in state(node_dir, "last_backup_error")
    assert state(node_dir, "last_backup_at") is None


def test_the_scheduler_backs_up_when_the_last_backup_is_older_than_a_day(node_dir):
    settings = load_settings(node_dir)
    scheduler = BackupScheduler(node_dir, settings)
    now = datetime(2026, 3, 2, 18, 0)
    assert scheduler.backup_if_due(now) is not None  # never backed up
    assert scheduler.backup_if_due(now + timedelta(hours=23)) is None
    later = scheduler.backup_if_due(now + timedelta(hours=24, minutes=1))
    assert later is not None and later.path.name == "motcua-node-20260303-180100.db"
    assert len(list_backups(node_dir / "backups")) == 2


def test_the_scheduler_thread_runs_the_daily_backup_by_itself(node_dir):
    scheduler = BackupScheduler(node_dir, load_settings(node_dir), first_check_seconds=0, tick_seconds=0.05)
    scheduler.start()
    try:
        wait_until(lambda: scheduler.backups == 1, 10, interval=0.05, message="first backup")
    finally:
        scheduler.stop()
    assert state(node_dir, "last_backup_at") is not None


def test_an_idle_database_gets_its_wal_checkpointed_and_truncated(node_dir, ctx):
    holder = connect(node_dir / DB_NAME)  # an open connection keeps the WAL file (like a busy server)
    holder.execute("SELECT 1").fetchone()
    receive(ctx)
    wal = Path(f"{node_dir / DB_NAME}-wal")
    assert wal.stat().st_size > 0
    scheduler = BackupScheduler(node_dir, load_settings(node_dir), idle_seconds=60)
    assert scheduler.checkpoint_if_idle() is False  # written just now: not idle yet
    scheduler.idle_seconds = 0
    assert scheduler.checkpoint_if_idle() is True
    assert wal.stat().st_size == 0
    holder.close()


def test_node_connections_are_durable():
    from appshell.sqlite import connect as node_connect
    conn = node_connect(":memory:")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# --- the run lock ----------------------------------------------------------------------------

def test_run_refuses_a_folder_another_node_process_holds(node_dir):
    with FolderLock(node_dir, "run"):
        assert is_locked(node_dir)
        result = CliRunner().invoke(main, ["run", "--data", str(node_dir), "--port", "1"])
    assert result.exit_code == 2 and "is in use" in result.output and "stop it first" in result.output
    assert not is_locked(node_dir)


# --- restore ---------------------------------------------------------------------------------

@pytest.fixture
def backed_up(node_dir, ctx):
    codes = [receive(ctx)["code"] for _ in range(4)]
    result = make_backup(node_dir, load_settings(node_dir))
    receive(ctx)  # written after the backup
    return node_dir, result.path, codes


def restore_cmd(data: Path, file: Path):
    return CliRunner().invoke(main, ["restore", "--data", str(data), str(file)])


def test_restore_refuses_a_truncated_file_and_leaves_the_node_untouched(backed_up, tmp_path):
    data, good, _ = backed_up
    before = db_values(data, "SELECT code FROM dossiers ORDER BY code")
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = restore_cmd(data, truncated)
    assert result.exit_code == 1
    assert "refusing to restore" in result.output and "truncated" in result.output
    assert db_values(data, "SELECT code FROM dossiers ORDER BY code") == before
    assert not list((data / "backups").glob("pre-restore-*"))  # nothing was replaced, so nothing kept
    assert not list(data.glob("*.restoring*"))


def corrupt_copy(good: Path, target: Path) -> Path:
    raw = bytearray(good.read_bytes())
    page = 4096
    conn = sqlite3.connect(good)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'dossiers'").fetchone()[0]
    conn.close()
    start = (root - 1) * page
    raw[start + 8: start + 200] = b"\xff" * 192  # smash the dossiers table's b-tree page
    target.write_bytes(bytes(raw))
    return target


@pytest.mark.parametrize("damage,message", [
    ("not_sqlite", "not an SQLite database"),
    ("corrupt_page", "damage"),
    ("broken_chain", "event log is broken"),
    ("other_node", "belongs to another node"),
    ("newer_version", "made by a newer version"),
    ("not_motcua", "not a motcua node database"),
])
def test_restore_refuses_a_damaged_or_foreign_file_with_a_clear_reason(backed_up, tmp_path, damage, message):
    data, good, _ = backed_up
    bad = tmp_path / f"{damage}.db"
    if damage == "not_sqlite":
        bad.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 100)
    elif damage == "corrupt_page":
        corrupt_copy(good, bad)
    else:
        shutil.copy(good, bad)
        conn = sqlite3.connect(bad, isolation_level=None)
        if damage == "broken_chain":
            conn.execute("UPDATE events SET body = replace(body, 'Nguyễn', 'Nguyen') WHERE seq = 2")
        elif damage == "other_node":
            conn.execute("UPDATE events SET body = replace(body, '\"node\":\"000.00.06.H56\"', "
                         "'\"node\":\"000.00.07.H56\"')")
        elif damage == "newer_version":
            conn.execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at) "
                         "VALUES ('motcua-node', '0099_from_the_future', '2030-01-01')")
        elif damage == "not_motcua":
            conn.execute("DROP TABLE events")
        conn.close()
    before = (data / DB_NAME).read_bytes()
    result = restore_cmd(data, bad)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert (data / DB_NAME).read_bytes() == before


def test_restore_keeps_the_current_database_and_installs_the_backup(backed_up):
    data, good, codes = backed_up
    result = restore_cmd(data, good)
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "4 dossiers" in result.output and "motcua-node recover" in result.output
    assert sorted(c for (c,) in db_values(data, "SELECT code FROM dossiers")) == sorted(codes)
    kept, = (data / "backups").glob("pre-restore-*.db")
    assert len(sqlite3.connect(kept).execute("SELECT code FROM dossiers").fetchall()) == 5
    assert db_values(data, "SELECT kind FROM recovery_log") == [("restored",)]
    assert state(data, "restored_from") == good.name
    conn = connect(data / DB_NAME)
    assert events.verify_all(conn).seq == 4
    conn.close()


def test_restore_refuses_while_the_node_is_running(backed_up):
    data, good, _ = backed_up
    with FolderLock(data, "run"):
        result = restore_cmd(data, good)
    assert result.exit_code == 2 and "is in use" in result.output


# --- end to end: a real node process, real intakes, a real central ---------------------------

class Intakes(threading.Thread):
    """Posts intakes at about ``rate`` per second; records codes whose 201 arrived, with the time."""

    def __init__(self, node: Node, rate: float = 10):
        super().__init__(daemon=True)
        self.node, self.interval = node, 1 / rate
        self.answered: list[tuple[float, float, str]] = []  # (sent, answered, code), monotonic times
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self):
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.node.token}"
        i = 0
        while not self.halt.is_set():
            t = time.monotonic()
            r = http.post(self.node.url + "/api/v1/dossiers", timeout=30, json={
                "procedure_code": "1.001193", "applicant": dict(APPLICANT, name=f"Nguyễn Văn Dũng {chr(65 + i % 26)}"),
                "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}]})
            if r.status_code == 201:
                self.answered.append((t, time.monotonic(), r.json()["code"]))
            else:
                self.errors.append(f"{r.status_code} {r.text[:200]}")
            i += 1
            self.halt.wait(max(0.0, self.interval - (time.monotonic() - t)))


def test_a_backup_made_while_10_intakes_a_second_are_written_passes_its_checks_and_restores_to_a_working_node(
        tmp_path):
    node = Node(tmp_path)
    node.start()
    desk = Intakes(node, rate=10)
    desk.start()
    try:
        wait_until(lambda: len(desk.answered) >= 15, 30, message="the desk has written 15 dossiers")
        before = time.monotonic()
        out = cli("node.cli", "backup", "--data", node.dir).stdout
        after = time.monotonic()
        wait_until(lambda: sum(sent > after for sent, _, _ in desk.answered) >= 5, 30,
                   message="5 intakes sent after the backup finished")
        refused = cli("node.cli", "restore", "--data", node.dir, out.split()[3], check=False)
        assert refused.returncode == 2 and "is in use" in refused.stderr  # never under a running node
    finally:
        desk.halt.set()
        desk.join(10)
    assert not desk.errors and len(desk.answered) >= 20
    path = Path(out.split()[3])
    assert "integrity_check ok" in out
    assert file_problems(path, full=True, chain=True, agency=AGENCY) == []
    in_copy = {r[0] for r in sqlite3.connect(path).execute("SELECT code FROM dossiers")}
    assert {code for _, answered, code in desk.answered if answered < before} <= in_copy  # answered before
    later = {code for sent, _, code in desk.answered if sent > after}  # sent after the copy was complete
    assert len(later) >= 5 and not later & in_copy
    node.stop()

    restored = cli("node.cli", "restore", "--data", node.dir, path)
    assert f"{len(in_copy)} dossiers" in restored.stdout
    node.start()
    session = login(node.url)
    assert session.get(node.url + "/").status_code == 200
    new = node.intake(1)[0]
    assert new not in in_copy
    conn = node.db()
    assert {r[0] for r in conn.execute("SELECT code FROM dossiers")} == in_copy | {new}
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    node.stop()


def test_after_restoring_an_old_backup_sync_reports_a_fork_and_recover_loses_nothing(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    code = central.add_node(AGENCY)
    central.start()
    try:
        node.enroll(central.url, code)
        node.start()
        first = node.intake(4)

        def synced():
            return central.events(AGENCY) == node.events()

        wait_until(synced, 20, message="first sync")
        path = Path(cli("node.cli", "backup", "--data", node.dir).stdout.split()[3])
        later = node.intake(3)  # synced to central, then the PC's database is lost
        wait_until(synced, 20, message="second sync")
        node.stop()
        (node.dir / "motcua-node.db").write_bytes(b"\0" * 4096)  # the disk mangled the database
        (node.dir / "motcua-node.db-wal").unlink(missing_ok=True)
        cli("node.cli", "restore", "--data", node.dir, path)
        assert list((node.dir / "backups").glob("pre-restore-*"))  # even a mangled database is kept
        node.start()
        # the desk goes on: these codes were already given out; other applicants, so these events differ from the
        # synced ones even when written within the same second as them (the same applicant would be the same event)
        after_restore = node.intake(2, first=10)
        wait_until(lambda: node.sync_value("last_error_kind") == "fork", 20, message="fork detected")
        doctor = cli("node.cli", "doctor", "--data", node.dir, check=False)
        assert doctor.returncode == 1 and "run motcua-node recover" in doctor.stdout
        node.stop()
        out = cli("node.cli", "recover", "--data", node.dir).stdout
        assert "adopted 3 events" in out and "re-applied 2 local events" in out
        codes = {r[0] for r in node.db().execute("SELECT code FROM dossiers")}
        assert set(first) | set(later) | set(after_restore) <= codes and len(codes) == 9
        node.start()
        # the fork flag is cleared by the first whole successful cycle (push, then pull)
        wait_until(lambda: synced() and node.sync_value("last_error_kind") is None, 20,
                   message="in line with central again")
    finally:
        node.stop()
        central.stop()
