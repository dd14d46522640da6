"""Real processes for end-to-end tests: motcua-central and motcua-node servers on loopback.

Each server is a process started through its CLI, exactly as a technician would; tests
talk to them over HTTP and read their SQLite files directly to compare what arrived.

The processes of this checkout come from a fork server (tests/e2e/forkserver.py): real processes
running the console entry point, without paying the interpreter's start-up and imports each time.
``MOTCUA_TEST_FORKSERVER=0`` starts every one with a fresh interpreter instead, as code from another
checkout (an older release) always is.
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import free_port
from tests.e2e import forkserver

PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]
APPLICANT = {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
             "address": "Thôn Đông, xã Hòa Bình", "email": ""}
FAST_SYNC = {"sync_interval_seconds": 1, "sync_heartbeat_seconds": 1, "sync_backoff_cap_seconds": 2,
             "sync_connect_timeout": 2,
             "sync_read_timeout": 5}


def cli(module: str, *args, input: str | None = None, check: bool = True, timeout: float = 120, code: Path = ROOT):
    """``code``: the checkout whose modules run (default this one; e.g. an older release unpacked in a temp dir)."""
    result = forkserver.run(module, list(args), input=input, timeout=timeout, cwd=code)
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {args} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


class Server:
    def __init__(self, argv: list[str], port: int, log_path: Path, env: dict | None = None, code: Path = ROOT):
        self.argv, self.port, self.log_path, self.code = argv, port, log_path, code
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | forkserver.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready: str = "/", timeout: float = 30) -> Server:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - the server's log outlives start(): stop()/kill() close it
        if self.argv[:2] == [PY, "-m"] and forkserver.serves(self.argv[2], self.code):
            self.proc = forkserver.ForkServer.get().spawn(self.argv[2], self.argv[3:], env=self.env, cwd=self.code,
                                                          stdin=None, stdout=str(self.log_path),
                                                          stderr=str(self.log_path))
        else:
            self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                         cwd=self.code)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                requests.get(self.url + ready, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.02)
        raise AssertionError(f"server on {self.port} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.log.close()

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a power cut for the process."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()


# The database of the next Central: "" for its SQLite file, or a postgresql:// URL. Set per test by
# the ``e2e_central_database`` fixture (tests/conftest.py), so the sync tests run on both engines.
CENTRAL_DATABASE = {"url": ""}


def release_checkout(target: Path, commit: str) -> Path:
    """An earlier release's files (``git archive commit``) in ``target``, to run its node or central
    as they were: the real old code, not today's pretending."""
    import io
    import tarfile
    result = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0, f"git archive {commit} failed (a shallow clone?): {result.stderr[-300:]}"
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def set_settings(path: Path, **values) -> None:
    """Change settings already in a settings file (each must be there once)."""
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value)
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {rendered}", text)
        assert n == 1, key
    path.write_text(text, encoding="utf-8")


class Central:
    def __init__(self, root: Path, code: Path = ROOT, database: str | None = None):
        self.dir = root / "central"
        self.port = free_port()
        self.code = code
        self.database = CENTRAL_DATABASE["url"] if database is None else database
        extra = ("--database", self.database) if self.database else ()
        cli("central.cli", "init", "--data", self.dir, "--name", "UBND tỉnh Quảng Ninh", "--admin", "admin",
            "--password-stdin", *extra, input="Admin-pass-2026\n", code=code)
        self.server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def another_process(self, root: Path) -> Central:
        """A second central process on the same (PostgreSQL) database: a copy of this data folder
        (same settings and signing key, as behind one load balancer), on its own port."""
        import shutil
        other = object.__new__(Central)
        other.dir, other.port, other.database, other.server = root / "central", free_port(), self.database, None
        other.code = self.code
        other.dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.dir, other.dir)
        return other

    def add_node(self, agency: str, name: str = "UBND xã Hòa Bình") -> str:
        out = cli("central.cli", "node", "add", "--data", self.dir, "--agency", agency, "--name", name,
                  code=self.code).stdout
        return re.search(r"code: (\S+)", out).group(1)

    def recovery_code(self, agency: str) -> str:
        out = cli("central.cli", "node", "recovery-code", "--data", self.dir, agency, code=self.code).stdout
        return re.search(r"code: (\S+)", out).group(1)

    def configure(self, **values) -> None:
        set_settings(self.dir / "motcua-central.toml", **values)

    def start(self) -> Central:
        self.server = Server([PY, "-m", "central.cli", "run", "--data", str(self.dir), "--port", str(self.port)],
                             self.port, self.dir.parent / "central.log", code=self.code).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def db(self):
        """A connection to central's database for reading (SQLite read-only, or PostgreSQL)."""
        if self.database:
            from central.db import connect
            return connect(self.database)
        conn = sqlite3.connect(f"file:{self.dir / 'motcua-central.db'}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def events(self, node: str) -> list[tuple[int, str]]:
        conn = self.db()
        try:
            return [(r["seq"], r["hash"]) for r in conn.execute(
                "SELECT seq, hash FROM events WHERE node = ? ORDER BY seq", (node,))]
        finally:
            conn.close()


class Node:
    def __init__(self, root: Path, agency: str = "000.00.06.H56", name: str = "node", code: Path = ROOT):
        self.dir = root / name
        self.code = code
        self.agency = agency
        self.port = free_port()
        cli("node.cli", "init", "--data", self.dir, "--agency", agency, "--name", f"UBND xã {name}",
            "--admin", "admin", "--password-stdin", "--public-url", f"http://127.0.0.1:{self.port}",
            input="Admin-pass-2026\n", code=code)
        cli("node.cli", "user", "add", "--data", self.dir, "lan", "--role", "clerk", "--password-stdin",
            input="Clerk-pass-2026\n", code=code)
        self.token = cli("node.cli", "token", "create", "--data", self.dir, "lan", code=code).stdout.strip()
        text = (self.dir / "motcua.toml").read_text(encoding="utf-8")  # an older release lacks newer settings
        self.configure(**{k: v for k, v in FAST_SYNC.items() if re.search(rf"(?m)^{k} = ", text)})
        self.server: Server | None = None

    def configure(self, **values) -> None:
        set_settings(self.dir / "motcua.toml", **values)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enroll(self, central_url: str, code: str):
        return cli("node.cli", "enroll", "--data", self.dir, central_url, code, code=self.code)

    def start(self) -> Node:
        self.server = Server([PY, "-m", "node.cli", "run", "--data", str(self.dir), "--port", str(self.port)],
                             self.port, self.dir.parent / f"{self.dir.name}.log", code=self.code).start("/dang-nhap")
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def intake(self, count: int = 1, procedure: str = "1.001193", session=None, first: int = 0) -> list[str]:
        """``count`` API intakes; applicants are named by letter from ``first`` (0 = A)."""
        http = session or requests.Session()
        codes = []
        for i in range(first, first + count):
            r = http.post(self.url + "/api/v1/dossiers", headers={"Authorization": f"Bearer {self.token}"},
                          json={"procedure_code": procedure,
                                "applicant": dict(APPLICANT, name=f"Nguyễn Văn Dũng {chr(65 + i % 26)}"),
                                "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}],
                                "channel": "in_person", "return_method": "desk"}, timeout=30)
            assert r.status_code == 201, r.text
            codes.append(r.json()["code"])
        return codes

    def act(self, code: str, action: str, **params) -> dict:
        r = requests.post(f"{self.url}/api/v1/dossiers/{code}/actions/{action}",
                          headers={"Authorization": f"Bearer {self.token}"}, json=params, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.dir / "motcua-node.db", timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def events(self) -> list[tuple[int, str]]:
        conn = self.db()
        try:
            return [(r["seq"], r["hash"]) for r in conn.execute("SELECT seq, hash FROM events ORDER BY seq")]
        finally:
            conn.close()

    def sync_value(self, key: str):
        conn = self.db()
        try:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None
        finally:
            conn.close()


def login(url: str, username: str = "lan", password: str = "Clerk-pass-2026") -> requests.Session:
    """A browser-like session logged in through the real form (with its CSRF token)."""
    session = requests.Session()
    html = session.get(url + "/dang-nhap", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = session.post(url + "/dang-nhap", data={"username": username, "password": password, "csrf_token": token},
                     timeout=10, allow_redirects=False)
    assert r.status_code == 302, r.text[:500]
    return session
