"""Shared fixtures: real node data folders in temp dirs, a controllable clock, live servers."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

# The test processes (and the node and central servers they start, which inherit the environment)
# hash passwords with one PBKDF2 round instead of scrypt: three accounts per test cost minutes of
# scrypt otherwise. Never set in production (appshell/accounts.py, docs/OPERATIONS.md). Set it to 0
# to run the suite with the real hash.
os.environ.setdefault("MOTCUA_TEST_FAST_PASSWORD_HASH", "1")

AGENCY = "000.00.06.H56"
ADMIN_PASSWORD = "Admin-pass-2026"
CLERK_PASSWORD = "Clerk-pass-2026"
CENTRAL_ADMIN_PASSWORD = "Central-pass-2026"


class Clock:
    """A settable clock for the app: tests move time instead of sleeping."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock():
    return Clock(datetime(2026, 1, 5, 9, 0))  # Monday


class FolderTemplates:
    """Data folders built once per test process and copied for each test that asks for one.

    A copy of a folder that nothing has opened since it was made is the folder ``init`` makes, files, modes
    and database alike; only its random parts (session secret, central's signing key, password salts) are
    the same in every test of the process. Keyed by what the folder is made from (the clock's start)."""

    def __init__(self, root: Path):
        self.root, self.made = root, {}

    def copy(self, kind: str, key, target: Path, build) -> Path:
        source = self.made.get((kind, key))
        if source is None:
            source = self.root / f"{kind}-{len(self.made)}" / kind
            build(source)
            self.made[(kind, key)] = source
        shutil.copytree(source, target)
        return target


@pytest.fixture(scope="session")
def folder_templates(tmp_path_factory) -> FolderTemplates:
    return FolderTemplates(tmp_path_factory.mktemp("templates"))


def make_node_dir(data: Path, now: datetime) -> Path:
    """A node folder as ``init`` makes it, with the clerk lan and the leader hung besides the admin."""
    from appshell import accounts
    from node import roles
    from node.cli import open_db
    from node.provision import init_node
    init_node(data, agency_code=AGENCY, agency_name="UBND xã Hòa Bình", admin="admin",
              password=ADMIN_PASSWORD, now=now, parent_name="UBND tỉnh Quảng Ninh")
    _settings, conn = open_db(data)
    accounts.create(conn, "lan", CLERK_PASSWORD, "clerk", "Nguyễn Thị Lan", now, roles=roles.ROLES)
    accounts.create(conn, "hung", "Leader-pass-2026", "leader", "Trần Văn Hùng", now, roles=roles.ROLES)
    conn.close()
    return data


@pytest.fixture
def node_dir(tmp_path, clock, folder_templates) -> Path:
    """A real node data folder (``make_node_dir``), copied from this process's template for the clock's start."""
    return folder_templates.copy("node", clock.now, tmp_path / "node", lambda data: make_node_dir(data, clock.now))


@pytest.fixture
def central_dir(tmp_path, clock, central_database, folder_templates) -> Path:
    """A real central data folder (used by tests/central/ and the browser tests in tests/e2e/), on the
    engine under test: its SQLite file (copied from this process's template), or a fresh PostgreSQL
    database (``central_database``)."""
    from central.provision import init_central

    def build(data: Path, database: str = "") -> None:
        init_central(data, name="UBND tỉnh Quảng Ninh", admin="admin", password=CENTRAL_ADMIN_PASSWORD,
                     now=clock.now, database=database)
    data = tmp_path / "central"
    if central_database:
        build(data, central_database)
        return data
    return folder_templates.copy("central", clock.now, data, build)


@pytest.fixture
def app(node_dir, clock):
    from node import create_app
    return create_app({"DATA_DIR": node_dir, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, username="lan", password=CLERK_PASSWORD):
    return client.post("/dang-nhap", data={"username": username, "password": password})


@pytest.fixture
def clerk(client):
    assert login(client).status_code == 302
    return client


@pytest.fixture
def ctx(app, clock):
    """A store Context factory bound to the app's database (real SQLite file)."""
    from appshell.sqlite import connect
    from node.store import Context
    conns = []

    def make(actor="lan"):
        conn = connect(app.config["DATABASE"])
        conns.append(conn)
        return Context(conn=conn, node=AGENCY, agency=AGENCY, actor=actor, now=clock.now,
                       calendar_cache=app.extensions["motcua.calendar"])
    yield make
    for c in conns:
        c.close()


APPLICANT = {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
             "address": "Thôn Đông, xã Hòa Bình", "email": ""}


def receive(ctx_factory, procedure_code="1.001193", applicant=None, actor="lan"):
    from node import store
    return store.receive(ctx_factory(actor), procedure_code=procedure_code, applicant=applicant or APPLICANT,
                         documents=[{"name": "Tờ khai", "kind": "original", "count": 1}],
                         channel="in_person", return_method="desk")


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it is true (returns the monotonic time it became so) or fail after ``timeout``.

    Tests wait for what they need, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real waitress server on a loopback port, in a thread; stops by itself at teardown."""

    def __init__(self, app):
        from appshell.web import make_server  # as the product serves (body caps, cut bodies kept)
        self.port = free_port()
        self.server = make_server(app, "127.0.0.1", self.port, 4, "motcua-test")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = False

    def _run(self):
        try:
            self.server.run()
        except OSError:
            if not self.stopping:  # closing the sockets under select() is how waitress stops here
                raise

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        stop_waitress(self.server, self.thread)


def stop_waitress(server, thread: threading.Thread) -> None:
    """Stop a waitress server running in ``thread`` now: its loop closes every socket it watches (the
    listening one, open connections, its wake-up pipe) and ends, instead of noticing a close from
    another thread at its next one-second select() timeout."""
    from waitress import wasyncore
    if thread.is_alive():
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError:  # its wake-up pipe is closed already: close from here (below), as before
            pass
        else:
            thread.join(timeout=5)
    with contextlib.suppress(OSError):  # idempotent when the loop closed its sockets; else closes them
        server.close()
    thread.join(timeout=5)


@pytest.fixture
def live_node(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


# --- central's database engine: every test that builds a central runs on each backend ---------------
# ``--central-db=sqlite,postgresql`` (default: both). PostgreSQL runs as a real cluster started by the
# tests in a temp folder on a loopback port (tests/pgcluster.py), one fresh database per test copied
# from a migrated template database. Without PostgreSQL installed the postgresql cases are skipped
# with the reason, unless CI is set: then they fail.
CENTRAL_BACKENDS = ("sqlite", "postgresql")
PG_MISSING = ("PostgreSQL is not installed (needs Debian's postgresql package: initdb and pg_ctl under "
              "/usr/lib/postgresql/*/bin); the central tests ran on SQLite only")


def pytest_addoption(parser):
    parser.addoption("--central-db", default=",".join(CENTRAL_BACKENDS),
                     help="comma-separated engines to run central's tests on: sqlite, postgresql "
                          "(default: both; postgresql cases skip when PostgreSQL is missing, fail when CI is set)")


def chosen_engines(config) -> list[str]:
    chosen = [b.strip() for b in config.getoption("--central-db").split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(CENTRAL_BACKENDS))
    if unknown:
        raise pytest.UsageError(f"--central-db: unknown engine {unknown[0]!r}; choose from {CENTRAL_BACKENDS}")
    return chosen


# An end-to-end test (real processes, sync cycles of a second, a browser) takes about as long as this
# many tests of one app in-process: the weight by which files are ordered for the workers (below).
E2E_WEIGHT = 30


def pytest_collection_modifyitems(config, items):
    """In a pytest-xdist worker, order the test files longest first (a file's weight: its number of tests,
    times E2E_WEIGHT under tests/e2e/), so that with ``--dist loadfile --no-loadscope-reorder`` (make check,
    make test) no long end-to-end file is handed out last while the other workers have run dry. The tests
    of a file keep their order; a run without workers keeps the collection order."""
    if not hasattr(config, "workerinput"):
        return
    files: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        files[path] = files.get(path, 0) + 1
    weight = {path: n * (E2E_WEIGHT if path.startswith("tests/e2e/") else 1) for path, n in files.items()}
    rank = {path: i for i, path in enumerate(sorted(files, key=lambda path: -weight[path]))}
    items.sort(key=lambda item: rank[item.nodeid.split("::", 1)[0]])


def pytest_generate_tests(metafunc):
    if "central_backend" in metafunc.fixturenames:
        metafunc.parametrize("central_backend", chosen_engines(metafunc.config), indirect=True)
    if "central_backend_module" in metafunc.fixturenames:
        metafunc.parametrize("central_backend_module", chosen_engines(metafunc.config), indirect=True, scope="module")


@pytest.fixture
def central_backend(request):
    return getattr(request, "param", "sqlite")


def _require_postgres():
    import os

    from tests import pgcluster
    if not pgcluster.available():
        if os.environ.get("CI"):
            pytest.fail(PG_MISSING + " -- CI requires it (.ci/run installs it)")
        pytest.skip(PG_MISSING)
    return pgcluster


@pytest.fixture(scope="session")
def pg_cluster(request):
    """A real PostgreSQL cluster for the whole session, with a migrated template database. The tests of
    PostgreSQL itself (which need this cluster but no ``central_backend``) are left out, skipped, when
    ``--central-db`` leaves PostgreSQL out (``make check``: SQLite only)."""
    if "postgresql" not in chosen_engines(request.config):
        pytest.skip("PostgreSQL left out by --central-db (make check runs SQLite only; make test both)")
    pgcluster = _require_postgres()
    cluster = pgcluster.Cluster.create()
    try:
        from central.db import migrate
        migrate(cluster.create_database("motcua_template"))
        yield cluster
    finally:
        cluster.stop()


_databases = iter(range(1, 10 ** 9))


@pytest.fixture
def pg_database(pg_cluster):
    """A fresh central database (migrated, empty) owned by central's unprivileged role."""
    name = f"central_{next(_databases)}"
    url = pg_cluster.create_database(name, template="motcua_template")
    yield url
    from central.db import close_pools_for
    close_pools_for(url)  # the apps a test built keep no connection (nor pool thread) to a dropped database
    pg_cluster.drop_database(name)


@pytest.fixture(scope="module")
def central_backend_module(request):
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="module")
def module_central_database(central_backend_module, request):
    """``central_database`` for a module-scoped world (one central for the module's tests)."""
    if central_backend_module == "sqlite":
        yield ""
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = f"central_m{next(_databases)}"
    url = cluster.create_database(name, template="motcua_template")
    yield url
    from central.db import close_pools_for
    close_pools_for(url)
    cluster.drop_database(name)


@pytest.fixture
def central_database(central_backend, request) -> str:
    """"" (central's SQLite file) or the postgresql:// URL of a fresh database, per the backend."""
    if central_backend == "sqlite":
        return ""
    return request.getfixturevalue("pg_database")


@pytest.fixture
def e2e_central_database(central_database):
    """End-to-end sync tests: the Central processes of this test use the engine under test."""
    from tests.e2e import harness
    harness.CENTRAL_DATABASE["url"] = central_database
    yield central_database
    harness.CENTRAL_DATABASE["url"] = ""
