"""What the shared shell guarantees an operator, through the real command-line tools: owner-only
files whatever the umask, settings that read back as written, central's redacted log and its
pre-migration copy, and a port already in use reported in one line."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e import forkserver

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Admin-pass-2026\n"


def cli(program: str, *args, input: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python -m {program}.cli ...`` in a process of its own under umask 022 (from the e2e fork server)."""
    return forkserver.run(f"{program}.cli", list(args), input=input, timeout=timeout, cwd=ROOT, umask=0o022)


def init_node(data: Path, name: str = "UBND xã Hòa Bình") -> subprocess.CompletedProcess:
    return cli("node", "init", "--data", data, "--agency", "000.00.06.H56", "--name", name, "--admin", "admin",
               "--password-stdin", input=PASSWORD)


def init_central(data: Path) -> subprocess.CompletedProcess:
    return cli("central", "init", "--data", data, "--name", "UBND tỉnh Quảng Ninh", "--admin", "admin",
               "--password-stdin", input=PASSWORD)


def open_modes(folder: Path) -> list[str]:
    """Every file or folder under ``folder`` (itself included) that group or others may use."""
    paths = [folder, *folder.rglob("*")]
    return [f"{p.relative_to(folder.parent)} {stat.filemode(p.stat().st_mode)}" for p in paths
            if p.stat().st_mode & 0o077]


def test_node_init_and_backup_create_only_owner_only_files_under_umask_022(tmp_path):
    data = tmp_path / "node"
    assert init_node(data).returncode == 0
    result = cli("node", "backup", "--data", data)
    assert result.returncode == 0, result.stderr
    assert list((data / "backups").glob("motcua-node-*.db"))
    assert open_modes(data) == []


def test_central_init_writes_its_secret_settings_and_key_owner_only_under_umask_022(tmp_path):
    data = tmp_path / "central"
    assert init_central(data).returncode == 0
    assert stat.S_IMODE((data / "motcua-central.toml").stat().st_mode) == 0o600
    assert open_modes(data) == []


def test_init_makes_an_existing_world_readable_folder_owner_only(tmp_path):
    data = tmp_path / "node"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    assert init_node(data).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_an_agency_name_with_a_newline_and_quotes_reads_back_and_the_node_starts(tmp_path):
    data = tmp_path / "node"
    name = 'UBND xã "Hòa Bình"\nthôn Đông \\ Tây'
    result = init_node(data, name)
    assert result.returncode == 0, result.stderr
    from node.settings import load_settings
    assert load_settings(data)["agency_name"] == name.strip()
    status = cli("node", "status", "--data", data)
    assert status.returncode == 0, status.stderr


def _busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.mark.parametrize("program", ["node", "central"])
def test_run_on_a_port_already_in_use_prints_one_line_and_exits_2(tmp_path, program):
    data = tmp_path / program
    assert (init_node(data) if program == "node" else init_central(data)).returncode == 0
    with _busy_port() as busy:
        port = busy.getsockname()[1]
        result = cli(program, "run", "--data", data, "--port", port, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f"error: port {port} on 127.0.0.1 is already in use (another server runs there; "
                     f"stop it or pass --port)"]


CENTRAL_LOGS_A_CITIZEN = """
import logging, sys, threading, time
from logging.handlers import RotatingFileHandler
from central.cli import main
def later():  # once `run` has set up its logging (its log file's handler is the last one it adds)
    while not any(isinstance(h, RotatingFileHandler) for h in logging.getLogger().handlers):
        time.sleep(0.01)
    logging.getLogger("motcua.central").warning("citizen 001203004567 phone 0912345678 asked")
threading.Thread(target=later, daemon=True).start()
sys.argv = ["motcua-central", "run", "--data", sys.argv[1], "--port", sys.argv[2]]
main()
"""


def test_central_logs_to_an_owner_only_file_with_id_and_phone_numbers_redacted(tmp_path):
    data = tmp_path / "central"
    assert init_central(data).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", CENTRAL_LOGS_A_CITIZEN, str(data), str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0o022))
    log_file = data / "logs" / "central.log"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "asked" not in (log_file.read_text() if log_file.exists() else ""):
            time.sleep(0.1)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    logged = log_file.read_text(encoding="utf-8")
    assert "citizen [redacted] phone [redacted] asked" in logged
    assert "001203004567" not in logged + err and "0912345678" not in logged + err
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_central_copies_its_database_before_migrating_and_writes_it_back_when_a_step_fails(tmp_path):
    from appshell.sqlite import MigrationFailed, connect
    from central import db as central_db
    from migrations.central import migrations
    data = tmp_path / "central"
    assert init_central(data).returncode == 0
    path = data / "motcua-central.db"
    last = migrations._migrations[-1]
    conn = connect(path)
    before_tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (last.name,))  # as if one step were new
    conn.close()

    original = last.fn

    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk full")
    last.fn = broken
    try:
        with pytest.raises(MigrationFailed, match="left as it was; a copy is in"):
            central_db.migrate(path)
    finally:
        last.fn = original
    copies = list((data / "backups").glob("pre-migrate-*.db"))
    assert len(copies) == 1 and stat.S_IMODE(copies[0].stat().st_mode) == 0o600
    conn = connect(path)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} == before_tables
    conn.close()


@pytest.mark.parametrize("program", ["node", "central"])
def test_the_user_commands_disable_enable_and_reset_an_account_on_both_servers(tmp_path, program):
    data = tmp_path / program
    assert (init_node(data) if program == "node" else init_central(data)).returncode == 0
    role = "clerk" if program == "node" else "viewer"
    assert cli(program, "user", "add", "--data", data, "lan", "--role", role, "--password-stdin",
               input="Lan-pass-2026\n").returncode == 0
    if program == "node":
        from node import create_app
    else:
        from central.app import create_app
    app = create_app({"DATA_DIR": data, "TESTING": True, "WTF_CSRF_ENABLED": False})

    def login(password):
        return app.test_client().post("/dang-nhap", data={"username": "lan", "password": password})
    assert login("Lan-pass-2026").status_code == 302
    disabled = cli(program, "user", "disable", "--data", data, "lan")
    assert disabled.returncode == 0 and "sessions ended" in disabled.stdout
    assert login("Lan-pass-2026").status_code == 401
    assert cli(program, "user", "enable", "--data", data, "lan").returncode == 0
    assert login("Lan-pass-2026").status_code == 302
    assert cli(program, "user", "reset-password", "--data", data, "lan", "--password-stdin",
               input="Temp-pass-2026\n").returncode == 0
    assert login("Lan-pass-2026").status_code == 401
    assert login("Temp-pass-2026").headers["Location"].endswith("/doi-mat-khau")
    unknown = cli(program, "user", "disable", "--data", data, "nobody")
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: no user 'nobody'"


@pytest.mark.parametrize("program", ["node", "central"])
@pytest.mark.parametrize("existing", [False, True])
def test_an_init_that_fails_halfway_leaves_nothing_behind_and_says_why_in_one_line(tmp_path, program, existing):
    data = tmp_path / program
    if existing:
        data.mkdir()
    args = (["--agency", "000.00.06.H56", "--name", "UBND xã Hòa Bình"] if program == "node"
            else ["--name", "UBND tỉnh Quảng Ninh"])
    result = cli(program, "init", "--data", data, *args, "--admin", "bad name!", "--password-stdin", input=PASSWORD)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("error: admin username must be letters, digits, dots, dashes or underscores")
    assert (list(data.iterdir()) == []) if existing else not data.exists()
