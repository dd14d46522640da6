"""Creating central's data folder: config, signing key, database, reference data v1, first admin."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from appshell import accounts
from appshell.files import make_private, new_data_folder
from appshell.provision import check_admin_password, fill_new_database
from appshell.settings import ConfigError
from appshell.sqlite import write_tx

from . import feed, keys, roles
from .db import connect, is_postgres, migrate, target
from .settings import CONFIG_NAME, DB_NAME, KEY_NAME, parse_settings, write_settings
from .store.backend import DB_ERRORS, redacted


def init_central(data_dir: Path, *, name: str, admin: str, password: str, now: datetime,
                 database: str = "") -> dict:
    """Create everything central needs; refuse an existing folder; leave nothing half-made.

    ``database``: a postgresql:// URL to put central on PostgreSQL (the database must exist and
    hold no central data yet); empty for the SQLite file in the data folder.
    """
    data_dir = Path(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(f"{data_dir} already exists and is not empty; refusing to overwrite it")
    check_admin_password(password)
    raw = {"name": name, "secret_key": secrets.token_urlsafe(48)}
    if database:
        raw["database"] = database
    values = parse_settings(raw)
    if database:
        _check_empty_postgres(values["database"])
    try:
        with new_data_folder(data_dir, (CONFIG_NAME, KEY_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")):
            keys.create(data_dir)
            make_private(data_dir / KEY_NAME)
            fill_new_database(target(data_dir, values), migrate=migrate, connect=connect,
                              seed=lambda conn: feed.publish_samples(conn, now=now),
                              create_user=lambda *a: accounts.create(*a, roles=roles.ROLES),
                              admin=admin, password=password, now=now)
            write_settings(data_dir, values)
    except BaseException:
        if database:
            _undo_postgres(values["database"])
        raise
    return values


# what init writes, and what must be empty for init to write it (in the order rows are deleted back)
INIT_TABLES = ("users", "api_tokens", "nodes", "feed", "reference")


def _check_empty_postgres(url: str) -> None:
    """Refuse a PostgreSQL database that cannot be reached or already holds central's data."""
    assert is_postgres(url)
    try:
        conn = connect(url)
    except DB_ERRORS as exc:
        raise ConfigError(f"cannot connect to {redacted(url)}: {str(exc).strip().splitlines()[0]}") from None
    try:
        for table in INIT_TABLES:
            if conn.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0] and \
                    conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                raise ConfigError(f"{redacted(url)} already holds central's data (table {table}); "
                                  "refusing to overwrite it")
    finally:
        conn.close()


def _undo_postgres(url: str) -> None:
    """Remove what a failed init wrote into a PostgreSQL database that held no data before."""
    try:
        conn = connect(url)
    except DB_ERRORS:
        return
    try:
        with write_tx(conn):
            for table in reversed(INIT_TABLES):
                if conn.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0]:
                    conn.execute(f"DELETE FROM {table}")
    except DB_ERRORS:
        pass
    finally:
        conn.close()
