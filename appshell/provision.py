"""What both servers' ``init`` does to a new data folder's database: migrate, seed, add the first admin.

Each app's provision.py keeps what differs: its settings, its files (central's signing key) and the
reference data it seeds (the node's sample catalogue and calendar, central's published v1).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .accounts import UserError, password_problem
from .settings import ConfigError
from .sqlite import write_tx


def check_admin_password(password: str) -> None:
    """Refuse a first admin password the accounts would refuse, before anything is written."""
    problem = password_problem(password)
    if problem:
        raise ConfigError(f"admin {problem}")


def fill_new_database(db_path: Path, *, migrate: Callable[[Path], None],
                      connect: Callable[[Path], sqlite3.Connection], seed: Callable[[sqlite3.Connection], None],
                      create_user: Callable, admin: str, password: str, now: datetime) -> None:
    """Migrate ``db_path``, run ``seed(conn)`` in one write transaction, then create the admin account.

    ``create_user`` is the app's ``users.create`` (it knows the app's roles); a refused user name
    becomes a ConfigError "admin ...". The caller's new_data_folder removes the file on any failure.
    """
    migrate(db_path)
    conn = connect(db_path)
    try:
        with write_tx(conn):
            seed(conn)
        try:
            create_user(conn, admin, password, "admin", "Quản trị viên", now)
        except UserError as exc:
            raise ConfigError(f"admin {exc}") from None
    finally:
        conn.close()
