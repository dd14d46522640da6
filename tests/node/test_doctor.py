"""`motcua-node doctor` and GET /healthz: each check broken for real gives its own plain message."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from appshell.sqlite import connect
from node import doctor, sync_state
from node.backup import make_backup
from node.cli import main
from node.clock import local_now
from node.settings import DB_NAME, load_settings
from protocol.keys import generate, save_private
from tests.conftest import APPLICANT, LiveServer, free_port, receive

pytestmark = pytest.mark.dates  # the doctor judges ages against the real clock


def put(data: Path, **values):
    conn = connect(data / DB_NAME)
    try:
        sync_state.put(conn, **values)
    finally:
        conn.close()


def configure(data: Path, **values):
    config = data / "motcua.toml"
    text = config.read_text(encoding="utf-8")
    for key, value in values.items():
        lines = [line for line in text.splitlines() if line.startswith(f"{key} = ")]
        assert len(lines) == 1, key
        text = text.replace(lines[0], f"{key} = {json.dumps(value)}")
    config.write_text(text, encoding="utf-8")


def enrolled_for_doctor(data: Path, central_url: str):
    """What enrolment leaves behind: a key file (0600), central's key and address in sync_state."""
    save_private(generate(), data / "node.key")
    put(data, node_id="000.00.06.H56", central_url=central_url, central_public_key="A" * 43 + "=")
    configure(data, central_url=central_url)


def run_doctor(data: Path):
    result = CliRunner().invoke(main, ["doctor", "--data", str(data)])
    lines = {line.split()[1]: line for line in result.output.splitlines()
             if line[:4] in ("ok  ", "WARN", "FAIL", "skip")}
    return result, lines


@pytest.fixture
def healthy(node_dir):
    make_backup(node_dir, load_settings(node_dir))
    return node_dir


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_a_healthy_unenrolled_node_passes_with_exit_code_0(healthy):
    result, lines = run_doctor(healthy)
    assert result.exit_code == 0, result.output
    assert lines["database"].startswith("ok") and "intact" in lines["database"]
    assert lines["disk"].startswith("ok") and lines["backup"].startswith("ok")
    for name in ("key", "clock", "central", "sync", "pending"):
        assert lines[name].startswith("skip"), lines[name]
    assert result.output.rstrip().endswith("all checks passed")


def test_a_damaged_database_fails_the_database_check(healthy, tmp_path):
    copy = tmp_path / "copy"
    conn = connect(healthy / DB_NAME)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copytree(healthy, copy)
    conn = sqlite3.connect(copy / DB_NAME)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'users'").fetchone()[0]
    conn.close()
    with open(copy / DB_NAME, "r+b") as f:  # smash the users table's b-tree page
        f.seek((root - 1) * 4096 + 8)
        f.write(b"\xff" * 300)
    result, lines = run_doctor(copy)
    assert result.exit_code == 1
    assert lines["database"].startswith("FAIL")
    assert "the database file is damaged" in lines["database"] and "restore the latest backup" in lines["database"]


def test_a_file_that_is_not_a_database_fails_the_database_check(healthy):
    for suffix in ("-wal", "-shm"):
        Path(f"{healthy / DB_NAME}{suffix}").unlink(missing_ok=True)
    (healthy / DB_NAME).write_bytes(b"\0" * 8192)
    result, lines = run_doctor(healthy)
    assert result.exit_code == 1
    assert lines["database"].startswith("FAIL") and "cannot be opened" in lines["database"]
    assert lines["pending"].startswith("skip")


def test_a_private_key_readable_by_others_fails(healthy):
    enrolled_for_doctor(healthy, closed_port_url())
    os.chmod(healthy / "node.key", 0o644)
    result, lines = run_doctor(healthy)
    assert result.exit_code == 1
    assert lines["key"].startswith("FAIL") and "can be read by other users" in lines["key"]
    assert "chmod 600" in result.output
    os.chmod(healthy / "node.key", 0o600)
    assert run_doctor(healthy)[1]["key"].startswith("ok")


def test_a_missing_key_of_an_enrolled_node_fails(healthy):
    enrolled_for_doctor(healthy, closed_port_url())
    (healthy / "node.key").unlink()
    _, lines = run_doctor(healthy)
    assert lines["key"].startswith("FAIL") and "key file is missing" in lines["key"]


def test_a_pc_clock_off_by_more_than_the_warning_fails(healthy):
    put(healthy, clock_offset_seconds=-720)  # this PC runs 12 minutes fast
    result, lines = run_doctor(healthy)
    assert result.exit_code == 1
    assert lines["clock"].startswith("FAIL") and "about 12 minutes fast" in lines["clock"]
    put(healthy, clock_offset_seconds=125)
    assert run_doctor(healthy)[1]["clock"].startswith("ok")


def test_central_unreachable_is_a_warning_and_a_reachable_central_is_ok(healthy, app):
    enrolled_for_doctor(healthy, closed_port_url())
    put(healthy, last_success_at=local_now().isoformat())
    result, lines = run_doctor(healthy)
    assert result.exit_code == 0  # the desk keeps working offline: a warning, not a failure
    assert lines["central"].startswith("WARN") and "central cannot be reached" in lines["central"]
    server = LiveServer(app).start()  # any HTTP answer means the address and the network work
    try:
        configure(healthy, central_url=server.url)
        _, lines = run_doctor(healthy)
    finally:
        server.stop()
    assert lines["central"].startswith("ok") and "central answered" in lines["central"]


def test_a_fork_fails_the_sync_check_and_says_to_run_recover(healthy):
    enrolled_for_doctor(healthy, closed_port_url())
    put(healthy, last_error_kind="fork", last_success_at=local_now().isoformat())
    result, lines = run_doctor(healthy)
    assert result.exit_code == 1
    assert lines["sync"].startswith("FAIL") and "run motcua-node recover" in lines["sync"]


def test_an_old_last_sync_is_a_warning(healthy):
    enrolled_for_doctor(healthy, closed_port_url())
    put(healthy, last_success_at=(local_now() - timedelta(days=3)).isoformat(), last_error_kind="offline")
    _, lines = run_doctor(healthy)
    assert lines["sync"].startswith("WARN") and "last successful sync 3 days ago" in lines["sync"]
    put(healthy, last_success_at=None, last_error_kind=None)
    assert "never synced" in run_doctor(healthy)[1]["sync"]


def test_a_backup_older_than_26_hours_fails(healthy):
    put(healthy, last_backup_at=(local_now() - timedelta(hours=30)).isoformat())
    result, lines = run_doctor(healthy)
    assert result.exit_code == 1
    assert lines["backup"].startswith("FAIL") and "the last backup is 30 hours old" in lines["backup"]


def test_no_backup_at_all_fails(node_dir):
    result, lines = run_doctor(node_dir)
    assert result.exit_code == 1
    assert lines["backup"].startswith("FAIL") and "no backup has been made yet" in lines["backup"]


def test_a_backup_file_gone_or_an_unplugged_backup_folder_is_a_warning(healthy, tmp_path):
    conn = connect(healthy / DB_NAME)
    path = Path(sync_state.get(conn, "last_backup_path"))
    conn.close()
    path.unlink()
    _, lines = run_doctor(healthy)
    assert lines["backup"].startswith("WARN") and "is no longer there" in lines["backup"]
    make_backup(healthy, load_settings(healthy))
    configure(healthy, backup_dir=str(tmp_path / "usb" / "motcua"))
    _, lines = run_doctor(healthy)
    assert lines["backup"].startswith("WARN") and "the backup folder is missing" in lines["backup"]


def test_events_waiting_for_more_than_a_day_are_a_warning(healthy, ctx, clock):
    enrolled_for_doctor(healthy, closed_port_url())
    put(healthy, last_success_at=local_now().isoformat())
    clock.set(local_now() - timedelta(days=2))
    receive(ctx)
    receive(ctx)
    _, lines = run_doctor(healthy)
    assert lines["pending"].startswith("WARN")
    assert "2 events not yet at central, the oldest written 48 hours ago" in lines["pending"]
    put(healthy, acked_seq=2)
    assert "every event is at central" in run_doctor(healthy)[1]["pending"]


def test_low_disk_space_warns_under_1_gb_and_fails_under_200_mb(healthy):
    def checks(**kw):
        return {c.name: c for c in doctor.run_checks(healthy, load_settings(healthy), **kw)}

    free = shutil.disk_usage(healthy).free
    warn = checks(disk_thresholds=(free + 2**30, 0))["disk"]
    fail = checks(disk_thresholds=(free + 2**30, free + 2**30))["disk"]
    assert warn.status == "WARN" and "less than 1 GB" in warn.message
    assert fail.status == "FAIL" and "saving dossiers will soon fail" in fail.message


@pytest.fixture
def small_disk(tmp_path):
    """A real 20 MB filesystem (loop-mounted ext4): needs root and loop devices."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root and mkfs.ext4 to loop-mount a small filesystem")
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(["truncate", "-s", "20M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(image)], check=True)
    if subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True).returncode != 0:
        pytest.skip("loop mounts are not available here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_data_folder_on_a_nearly_full_disk_fails_the_disk_check(small_disk, healthy):
    data = small_disk / "node"
    shutil.copytree(healthy, data)
    result, lines = run_doctor(data)
    assert result.exit_code == 1
    assert lines["disk"].startswith("FAIL") and "MB free on the data disk" in lines["disk"]


def test_every_failing_check_has_its_own_message(healthy, ctx, clock):
    enrolled_for_doctor(healthy, closed_port_url())
    os.chmod(healthy / "node.key", 0o640)
    put(healthy, clock_offset_seconds=900, last_error_kind="fork",
        last_backup_at=(local_now() - timedelta(days=2)).isoformat())
    clock.set(local_now() - timedelta(days=3))
    receive(ctx)
    result, lines = run_doctor(healthy)
    assert result.exit_code == 1
    bad = {name: line for name, line in lines.items() if line.startswith(("WARN", "FAIL"))}
    assert set(bad) == {"key", "clock", "central", "sync", "backup", "pending"}
    messages = [line.split(None, 2)[2] for line in bad.values()]
    assert len(set(messages)) == len(messages)
    assert "6 warnings" not in result.output and "4 failed, 2 warnings" in result.output


# --- GET /healthz ----------------------------------------------------------------------------

@pytest.fixture
def health_client(app):
    app.config["HEALTH_CACHE_SECONDS"] = 0
    return app.test_client()


def test_healthz_answers_200_with_the_checks_as_json_without_login(health_client, node_dir):
    make_backup(node_dir, load_settings(node_dir))
    r = health_client.get("/healthz")
    assert r.status_code == 200 and r.is_json
    body = r.get_json()
    assert body["status"] == "ok"
    assert [c["name"] for c in body["checks"]] == ["database", "disk", "key", "clock", "central", "sync", "backup",
                                                   "pending", "blobs"]
    assert set(body["checks"][0]) == {"name", "status", "message"}
    assert r.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_when_a_check_fails_and_carries_no_personal_data_or_paths(health_client, node_dir, ctx):
    receive(ctx, applicant=dict(APPLICANT))
    put(node_dir, clock_offset_seconds=-3600)
    r = health_client.get("/healthz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["status"] == "fail"
    failed = {c["name"]: c["message"] for c in body["checks"] if c["status"] == "FAIL"}
    assert set(failed) == {"clock", "backup"} and "60 minutes fast" in failed["clock"]
    text = r.get_data(as_text=True)
    for private in (APPLICANT["id_number"], APPLICANT["phone"], "Dũng", "Dung", str(node_dir)):
        assert private not in text


def test_healthz_results_are_cached_for_a_while(health_client, app, node_dir):
    app.config["HEALTH_CACHE_SECONDS"] = 60
    first = health_client.get("/healthz").get_json()
    make_backup(node_dir, load_settings(node_dir))
    assert health_client.get("/healthz").get_json() == first  # still the cached answer


def test_the_admin_page_summary_gives_the_last_backups_age_in_vietnamese(node_dir, clock):
    from node.views.health import last_backup_summary
    conn = connect(node_dir / DB_NAME)
    try:
        none = last_backup_summary(conn, clock.now)
        assert none["late"] and "chưa có bản sao lưu nào" in none["text"]
        result = make_backup(node_dir, load_settings(node_dir), now=clock.now)
        fresh = last_backup_summary(conn, clock.now + timedelta(hours=5))
        assert fresh == {"text": f"5 giờ trước ({result.path.name})", "late": False, "hours": 5.0}
        old = last_backup_summary(conn, clock.now + timedelta(days=3))
        assert old["late"] and old["text"].startswith("3 ngày trước") and "quá hạn" in old["text"]
    finally:
        conn.close()
