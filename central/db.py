"""Central's database: SQLite (a file in the data folder, the default) or PostgreSQL (setting
``database``), behind one connection interface (``central.store.backend``).

One connection per request (Flask g) or per command; explicit write transactions (``write_tx``:
BEGIN IMMEDIATE on SQLite, a transaction holding central's advisory write lock on PostgreSQL);
migrations applied at start (on SQLite after a copy that is written back if a step fails,
appshell.sqlite.migrate; on PostgreSQL each step in its own transaction). On PostgreSQL a request
borrows a connection from the process's psycopg-pool, and dashboards, searches and exports may read
from a streaming replica (``read_database``, ``get_read_db``).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from appshell import sqlite
from migrations.central import migrations

from .store import backend
from .store.backend import DB_ERRORS, PgConnection, is_postgres, node_write_tx  # noqa: F401

# central serves many nodes at once: writers may queue a little longer than at a commune desk
connect_sqlite = partial(sqlite.connect, busy_seconds=30)


def target(data_dir: Path, settings: dict) -> str | Path:
    """The database a data folder's settings name: a postgresql:// URL or the SQLite file path."""
    from .settings import DB_NAME
    return settings.get("database") or Path(data_dir) / DB_NAME


def connect(where):
    """A new connection to central's database (a SQLite path or a postgresql:// URL)."""
    if is_postgres(where):
        return backend.connect_postgres(where)
    return connect_sqlite(where)


def migrate(where, backup_dir: Path | None = None) -> list[str]:
    """Apply pending migration steps; returns their names (the same names on both engines).

    SQLite: a database that already has a schema is copied to backups/ first (written back if a
    step fails). PostgreSQL: each step in its own transaction (point-in-time recovery and pg_dump
    are the DBA's copies, docs/DBA.md)."""
    if is_postgres(where):
        from migrations import central_pg
        conn = backend.connect_postgres(where, application_name="motcua-central migrate")
        try:
            return central_pg.apply(conn.raw)
        finally:
            conn.close()
    folder = Path(backup_dir) if backup_dir is not None else Path(where).parent / "backups"
    return sqlite.migrate(where, migrations, backup_dir=folder, busy_seconds=30,
                          restore_hint="stop central and copy {copy} over the database file")


_EVERY_POOL: list = []  # every pool this process opened (close_pools_for)


def _pool(app, url: str):
    pools = app.extensions.setdefault("motcua.pools", {})
    if url not in pools:
        from psycopg_pool import ConnectionPool
        size = int(app.config.get("MOTCUA", {}).get("pool_size", 10))
        # check: a connection is tried before it is lent, so one broken by a restart, a failover or a
        # replica going away is replaced instead of failing the request
        pools[url] = ConnectionPool(url, min_size=1, max_size=size, open=True, name="motcua-central",
                                    check=ConnectionPool.check_connection,
                                    kwargs={"autocommit": True, "application_name": "motcua-central"})
        _EVERY_POOL.append((url, pools[url]))
    return pools[url]


def _open(app, where, timeout: float = 30.0):
    if not is_postgres(where):
        return connect_sqlite(where)
    pool = _pool(app, where)
    return PgConnection(pool.getconn(timeout=timeout), release=pool.putconn)


def get_db():
    from flask import current_app, g
    if "db" not in g:
        g.db = _open(current_app, current_app.config["DATABASE"])
    return g.db


REPLICA_WAIT_SECONDS = 3  # how long a page waits for the replica before reading from the primary


def get_read_db():
    """The connection dashboards, searches, reports and exports read from: the replica when
    ``read_database`` is set (the main database while the replica cannot be reached), else the main
    database. Never write through it."""
    from flask import current_app, g
    replica = current_app.config.get("READ_DATABASE")
    if not replica:
        return get_db()
    if "read_db" not in g:
        try:
            g.read_db = _open(current_app, replica, timeout=REPLICA_WAIT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - psycopg or pool errors: the page is served from the primary
            import logging
            logging.getLogger("motcua.central").warning("read replica unavailable (%s); reading from the "
                                                        "primary", type(exc).__name__)
            return get_db()
    return g.read_db


def close_db(_exc=None) -> None:
    from flask import g
    for name in ("db", "read_db"):
        db = g.pop(name, None)
        if db is not None:
            db.close()


def close_pools(app) -> None:
    for pool in app.extensions.pop("motcua.pools", {}).values():
        pool.close()


def close_pools_for(url: str) -> None:
    """Close every pool of this process onto ``url`` (before that database is dropped or restored)."""
    for entry in [e for e in _EVERY_POOL if e[0] == url]:
        _EVERY_POOL.remove(entry)
        entry[1].close()
