"""One connection interface for central over SQLite (the embedded default) and PostgreSQL.

Central's modules are written once, against the sqlite3 connection interface: ``execute`` /
``executemany`` with qmark (``?``) or named (``:name``) parameters, rows readable by position and
by column name, ``lastrowid``, ``rowcount``, ``in_transaction``, and explicit write transactions
(``BEGIN IMMEDIATE`` ... ``COMMIT``, as ``appshell.sqlite.write_tx`` issues them).

A database target is either a path (SQLite file) or a ``postgresql://`` URL. For PostgreSQL,
``PgConnection`` wraps a psycopg 3 connection (autocommit, explicit transactions) and translates
the few mechanical differences of every statement (``translate``):

- ``?`` and ``:name`` parameters become psycopg's ``%s`` / ``%(name)s`` (a literal ``%`` is doubled);
- ``BEGIN IMMEDIATE`` becomes ``BEGIN`` followed by ``pg_advisory_xact_lock(WRITE_LOCK)``: every
  write transaction of every central process takes the same advisory lock, held until COMMIT or
  ROLLBACK, so writers queue exactly as SQLite's single writer lock makes them queue, across any
  number of central processes sharing the database (no in-process lock involved). The one
  exception is ingest (``node_write_tx``): it takes that lock in SHARED mode plus an exclusive
  advisory lock of its own node, and locks the node's row (SELECT ... FOR UPDATE), so pushes from
  different communes are stored in parallel while two pushes of one commune, or a push and any
  other write, still queue;
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
- ``INDEXED BY`` / ``NOT INDEXED`` planner hints are dropped (PostgreSQL's planner has none);
- an ``INSERT`` into a table with an ``id`` identity column gets ``RETURNING id`` so that
  ``lastrowid`` works.

Everything else that differs (JSON paths, upserts, expression indexes, full-text search, the report
SQL) is written per engine in ``central.store.dialect`` and ``central.store.reports``; ``dialect.of``
tells which engine a connection speaks.
"""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# The advisory lock every write transaction takes on PostgreSQL (an arbitrary 64-bit constant:
# "motcua" in ASCII). DBAs see it in pg_locks as locktype 'advisory', objid 1668571251.
WRITE_LOCK = 0x6D6F74637561
# Tables whose "id" is an identity column: an INSERT into one returns the new id (lastrowid).
ID_TABLES = frozenset({"node_keys", "batches", "dossiers", "anomalies", "forks", "handbacks", "users",
                       "api_tokens", "access_log"})

try:  # psycopg is only needed when central runs on PostgreSQL
    import psycopg
    DB_ERRORS: tuple = (sqlite3.Error, psycopg.Error)
except ImportError:  # pragma: no cover - psycopg is a declared dependency
    psycopg = None
    DB_ERRORS = (sqlite3.Error,)


def is_postgres(target) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def engine(conn) -> str:
    """"postgresql" or "sqlite"."""
    return "postgresql" if isinstance(conn, PgConnection) else "sqlite"


def redacted(url: str) -> str:
    """A database URL fit for a log line or an error message: the password replaced by ***."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", str(url))


# --- translating a statement ------------------------------------------------------------------

_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::|:[A-Za-z_]\w*|\?|%|[^'"\-:?%]+|-|:""")
_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.I)
_HINT = re.compile(r"\s+(INDEXED\s+BY\s+[A-Za-z_]\w*|NOT\s+INDEXED)\b", re.I)
_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+([A-Za-z_]\w*)", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)
_BEGIN = re.compile(r"^\s*BEGIN(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?(\s+TRANSACTION)?\s*;?\s*$", re.I)


@lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, bool]:
    """(PostgreSQL text of an SQLite-dialect statement, whether it returns the new row's id)."""
    parts = []
    for token in _TOKEN.findall(sql):
        if token == "?":
            parts.append("%s")
        elif token == "%":
            parts.append("%%")
        elif token.startswith(":") and len(token) > 1 and token != "::":
            parts.append(f"%({token[1:]})s")
        elif token.startswith("'"):
            parts.append(token.replace("%", "%%"))
        elif token.startswith("--"):
            continue
        else:
            parts.append(_HINT.sub("", token) if not token.startswith('"') else token)
    text = "".join(parts)
    if _OR_IGNORE.match(text):
        text = _OR_IGNORE.sub("INSERT INTO", text, count=1).rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    returns_id = False
    found = _INSERT_INTO.match(text)
    if found and found.group(1).lower() in ID_TABLES and not _RETURNING.search(text):
        text = text.rstrip().rstrip(";") + " RETURNING id"
        returns_id = True
    return text, returns_id


# --- rows and cursors ---------------------------------------------------------------------------

class Row(tuple):
    """A result row readable like sqlite3.Row: by position, by column name, keys(), dict(row)."""

    def __new__(cls, values, names: dict[str, int]):
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                key = self._names[key]
            except KeyError:
                raise IndexError(f"no column named {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor):
    description = cursor.description or []
    names = {}
    for position, column in enumerate(description):
        names.setdefault(column.name, position)
    return lambda values: Row(values, names)


class PgCursor:
    """The part of sqlite3.Cursor central uses, over a psycopg cursor."""

    def __init__(self, cursor, returns_id: bool):
        self._cursor = cursor
        self._lastrowid = None
        if returns_id and cursor.description is not None:
            row = cursor.fetchone()
            self._lastrowid = row[0] if row else None

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self):
        return self._cursor.description

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description is not None else None

    def fetchall(self) -> list:
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def fetchmany(self, size: int = 1000) -> list:
        return self._cursor.fetchmany(size) if self._cursor.description is not None else []

    def __iter__(self):
        return iter(self.fetchall())

    def close(self) -> None:
        self._cursor.close()


class PgConnection:
    """A psycopg 3 connection behind the sqlite3 interface central's code is written against.

    ``release`` (when given) hands the underlying connection back to its pool instead of closing it.
    """

    dialect = "postgresql"

    def __init__(self, raw, release=None):
        self.raw = raw
        self._release = release

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, params=()):
        begin = _BEGIN.match(sql)
        if begin:
            self.raw.execute("BEGIN")
            if (begin.group(2) or "").upper() in ("IMMEDIATE", "EXCLUSIVE"):
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            return PgCursor(self.raw.cursor(), False)
        text, returns_id = translate(sql)
        cursor = self.raw.cursor(row_factory=_row_factory)
        cursor.execute(text, _params(params))
        return PgCursor(cursor, returns_id)

    def executemany(self, sql: str, seq):
        text, _returns_id = translate(sql)
        rows = [_params(p) for p in seq]
        cursor = self.raw.cursor(row_factory=_row_factory)
        if rows:
            cursor.executemany(text.removesuffix(" RETURNING id"), rows)
        return PgCursor(cursor, False)

    def executescript(self, sql: str) -> None:
        """Run several statements (no parameters) as they are written, in PostgreSQL's dialect."""
        self.raw.execute(sql)

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        if self.raw is None:
            return
        raw, self.raw = self.raw, None
        if self._release is not None:
            self._release(raw)
        else:
            raw.close()


NODE_LOCK_CLASS = 0x6D6E  # first key of the two-key advisory lock of one node's ingest (second: hashtext(node))


@contextmanager
def node_write_tx(conn, node: str):
    """A write transaction for storing one node's pushed batch (see the module docstring)."""
    if not isinstance(conn, PgConnection):
        with write_tx(conn):
            yield conn
        return
    conn.raw.execute("BEGIN")
    try:
        conn.raw.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRITE_LOCK,))
        conn.raw.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (NODE_LOCK_CLASS, node))
        yield conn
    except BaseException:
        conn.raw.execute("ROLLBACK")
        raise
    else:
        conn.raw.execute("COMMIT")


def _params(params):
    if params is None:
        return ()
    if isinstance(params, dict):
        return params
    return tuple(params)


def connect_postgres(url: str, *, application_name: str = "motcua-central") -> PgConnection:
    raw = psycopg.connect(url, autocommit=True, application_name=application_name)
    return PgConnection(raw)


def connect(target, *, busy_seconds: int = 30):
    """A connection to central's database: ``target`` a SQLite file path or a postgresql:// URL."""
    if is_postgres(target):
        return connect_postgres(target)
    from appshell import sqlite
    return sqlite.connect(Path(target), busy_seconds=busy_seconds)


from appshell.sqlite import write_tx  # noqa: E402  (BEGIN IMMEDIATE: translated above on PostgreSQL)
