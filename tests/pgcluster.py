"""A throw-away PostgreSQL cluster on loopback for tests and benchmarks (Debian's postgresql-15 binaries).

``Cluster.create()`` runs initdb in a fresh temp folder, starts ``postgres`` on a free 127.0.0.1 port
(its socket in the same folder), with streaming replication allowed from loopback; ``standby()``
makes a real streaming replica with ``pg_basebackup -R``; ``promote()`` turns a standby into a
primary; ``stop()`` stops it and removes the folder. Run as root (as CI and this machine do), the
server runs as the ``postgres`` user through ``runuser``. Nothing here is mocked: it is the server.

Central connects as the role ``motcua`` (LOGIN, no superuser, no CREATEDB, owner of its database):
the privileges docs/DBA.md asks a DBA to give it.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROLE = "motcua"
SUPERUSER = "postgres"


def bin_dir() -> Path | None:
    """Where initdb and postgres live (Debian: /usr/lib/postgresql/<v>/bin), or None."""
    for candidate in [os.environ.get("MOTCUA_PG_BIN", "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                                                     reverse=True):
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def available() -> bool:
    if bin_dir() is None:
        return False
    if os.geteuid() == 0:
        try:
            import pwd
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", SUPERUSER, "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(_as_server_user(args), capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


class Cluster:
    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.data = root / "data"
        self.bin = bin_dir()
        self.running = False

    # -- life cycle ------------------------------------------------------------------------------
    @classmethod
    def create(cls, *, settings: dict | None = None) -> Cluster:
        root = Path(tempfile.mkdtemp(prefix="motcua-pg-"))
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(root, SUPERUSER, SUPERUSER)
        cluster = cls(root, free_port())
        _run([str(cluster.bin / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
              "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        conf = {
            "listen_addresses": "'127.0.0.1'", "port": str(cluster.port),
            "unix_socket_directories": f"'{root}'", "wal_level": "replica", "max_wal_senders": "10",
            "hot_standby": "on", "fsync": "on", "max_connections": "200", "shared_buffers": "64MB",
            "wal_keep_size": "256MB", "logging_collector": "off",
        }
        conf.update(settings or {})
        with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write("\n# motcua test cluster\n" + "".join(f"{k} = {v}\n" for k, v in conf.items()))
        with open(cluster.data / "pg_hba.conf", "a", encoding="utf-8") as f:
            f.write("host replication all 127.0.0.1/32 trust\n")
        cluster.start()
        cluster.sql(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        return cluster

    def start(self) -> None:
        _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / f"log-{self.port}.txt"),
              "-w", "-t", "60", "-o", f"-p {self.port}", "start"])
        self.running = True

    def stop(self, mode: str = "fast", remove: bool = True) -> None:
        if self.running:
            with contextlib.suppress(RuntimeError):
                _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])
            self.running = False
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- connecting ------------------------------------------------------------------------------
    def url(self, database: str = "postgres", user: str = ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", user: str = SUPERUSER):
        import psycopg
        return psycopg.connect(self.url(database, user), autocommit=True)

    def sql(self, statement: str, params=(), database: str = "postgres"):
        with self.connect(database) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else None

    # -- databases -------------------------------------------------------------------------------
    def create_database(self, name: str, *, template: str | None = None, owner: str = ROLE) -> str:
        """A database owned by central's role; with ``template`` a copy of it (fast: a file copy)."""
        clause = f" TEMPLATE {template}" if template else ""
        self.sql(f'CREATE DATABASE "{name}" OWNER {owner}{clause}')
        if not template:
            # central's role creates its objects in the public schema of its own database
            self.sql(f"GRANT ALL ON SCHEMA public TO {owner}", database=name)
            self.sql(f"ALTER SCHEMA public OWNER TO {owner}", database=name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- replication -----------------------------------------------------------------------------
    def standby(self) -> Cluster:
        """A streaming replica of this cluster: pg_basebackup -R into a new folder, started."""
        root = Path(tempfile.mkdtemp(prefix="motcua-pg-standby-"))
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(root, SUPERUSER, SUPERUSER)
        replica = Cluster(root, free_port())
        _run([str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
              "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast"])
        with open(replica.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(f"port = {replica.port}\nunix_socket_directories = '{root}'\n")
        replica.start()
        return replica

    def promote(self) -> None:
        _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote"])

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise TimeoutError(f"waited {timeout}s for {what}")
