"""SQLite connections with durable pragmas and explicit write transactions."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # a receipt handed to a citizen must survive a power cut
    "PRAGMA foreign_keys=ON",
)


def connect(path: str | Path, busy_seconds: int = 15) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (write_tx), never implicit.
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_seconds)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute(f"PRAGMA busy_timeout={busy_seconds * 1000}")
    return conn


@contextmanager
def write_tx(conn: sqlite3.Connection):
    """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue, never deadlock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
