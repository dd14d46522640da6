"""The SQL that differs between database engines, in one place.

Central runs on SQLite (the default) or PostgreSQL. Every statement in ``central.store`` is plain
SQL with qmark (``?``) parameters, except the pieces built here: JSON documents (paths into them,
decoding and encoding), upserts, planner hints, the code-tail expression (which must match its
expression index) and the diacritic-free name search. The module-level functions are SQLite's;
``of(conn)`` gives the set for a connection's engine (``SQLITE`` or ``POSTGRES``, same names), so
callers never spell an engine's SQL out. The mechanical differences every statement shares (``?``
placeholders, BEGIN IMMEDIATE, INSERT OR IGNORE, planner hints) are translated by the PostgreSQL
connection wrapper (``central.store.backend``). The report figures have one SQL text per engine in
``central.store.reports`` (SQLite's is ``domain.reports``', shared with the node).

The arguments are identifiers and paths written in central's own code, never user input.
"""
from __future__ import annotations

import json
import re

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[#-1\]|\.[A-Za-z_][A-Za-z0-9_]*)*")

LAST = "[#-1]"  # in a JSON path: the last element of an array ("handoffs" + LAST + ".note")


def _ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not an SQL identifier: {name!r}")
    return name


def _path(path: str) -> str:
    if not _PATH.fullmatch(path):
        raise ValueError(f"not a JSON path central uses: {path!r}")
    return path


def from_json(value):
    """A JSON column's value as Python: SQLite hands back the stored text; an engine with a JSON
    type may already give the decoded value."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def to_json(value) -> str:
    """A Python value as the text a JSON column stores (UTF-8 kept readable)."""
    return json.dumps(value, ensure_ascii=False)


def json_value(column: str, path: str) -> str:
    """The scalar at ``path`` ("data.version", "handoffs[#-1].sent_at") inside a JSON text column."""
    return f"json_extract({_ident(column)}, '$.{_path(path)}')"


def json_length(column: str, path: str) -> str:
    """The number of elements of the JSON array at ``path`` (0 when it is not an array)."""
    return f"json_array_length({_ident(column)}, '$.{_path(path)}')"


def upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], update: tuple[str, ...] | None = None) -> str:
    """INSERT one row of ``columns`` (qmark parameters in that order); on a clash on ``key`` the
    columns ``update`` (default: all but the key) take the new values, the others are kept."""
    names = ", ".join(_ident(c) for c in columns)
    kept = [c for c in columns if c not in key] if update is None else [_ident(c) for c in update]
    updates = ", ".join(f"{c} = excluded.{c}" for c in kept)
    return (f"INSERT INTO {_ident(table)}({names}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT({', '.join(_ident(k) for k in key)}) DO UPDATE SET {updates}")


def use_index(index: str) -> str:
    """A planner hint after a table name: read through ``index`` (empty where the engine has none)."""
    return f"INDEXED BY {_ident(index)}"


def code_tail(column: str = "code") -> str:
    """The last four characters of a dossier code, the expression of index ``dossiers_code_tail``."""
    return f"substr({_ident(column)}, -4)"


# --- diacritic-free name search ---------------------------------------------------------------------

def name_query(folded: str) -> str | None:
    """The full-text query for an already folded name: a phrase with a prefix on its last word, so
    "nguyen van d" already finds "Nguyễn Văn Dũng". None when no word is left."""
    words = re.findall(r"[0-9a-z]+", folded)
    if not words:
        return None
    return '"' + " ".join(words) + '"*'


def newest_name_matches(*, in_node: bool) -> str:
    """A subquery of dossier ids whose folded name matches (parameter 1: ``name_query``; then the
    node when ``in_node``; then a row cap), newest arrivals first, straight from the full-text
    index: a common name matches a large share of a million rows, so never every match then a sort."""
    if in_node:
        return ("SELECT d.id FROM dossiers_fts f JOIN dossiers d ON d.id = f.rowid "
                "WHERE dossiers_fts MATCH ? AND d.node = ? ORDER BY f.rowid DESC LIMIT ?")
    return "SELECT rowid FROM dossiers_fts WHERE dossiers_fts MATCH ? ORDER BY rowid DESC LIMIT ?"


# --- PostgreSQL ------------------------------------------------------------------------------------
# JSON documents are TEXT columns (an event's body is kept byte for byte: it is signed); a query
# looks inside through ``::jsonb``. The expressions must stay identical to the expression indexes of
# migrations/central_pg.py (events_dossier, dossiers_code_tail) for the planner to use them.

def _pg_path(path: str) -> str:
    """"handoffs[#-1].note" -> '{handoffs,-1,note}' (a text[] literal of path elements)."""
    parts = []
    for name in _path(path).replace(LAST, ".-1").split("."):
        parts.append(name)
    return "'{" + ",".join(parts) + "}'"


def pg_json_value(column: str, path: str) -> str:
    """The scalar at ``path`` as text (SQL NULL when absent or JSON null)."""
    return f"({_ident(column)}::jsonb #>> {_pg_path(path)})"


def pg_json_int(column: str, path: str) -> str:
    """The number at ``path`` as an integer (NULL when absent or not a number)."""
    value = f"({_ident(column)}::jsonb #> {_pg_path(path)})"
    return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::text::numeric::bigint END)"


def pg_json_true(column: str, path: str) -> str:
    """A condition: the value at ``path`` is JSON true."""
    return f"(({_ident(column)}::jsonb #> {_pg_path(path)}) = 'true'::jsonb)"


def pg_json_length(column: str, path: str) -> str:
    value = f"({_ident(column)}::jsonb #> {_pg_path(path)})"
    return (f"(CASE WHEN {value} IS NULL THEN NULL WHEN jsonb_typeof({value}) = 'array' "
            f"THEN jsonb_array_length({value}) ELSE 0 END)")


def pg_use_index(index: str) -> str:
    _ident(index)
    return ""


def pg_code_tail(column: str = "code") -> str:
    return f"right({_ident(column)}, 4)"


def pg_name_query(folded: str) -> str | None:
    """A tsquery (to_tsquery('simple', ...)): the words in order, the last one as a prefix."""
    words = re.findall(r"[0-9a-z]+", folded)
    if not words:
        return None
    return " <-> ".join(words[:-1] + [words[-1] + ":*"])


def pg_newest_name_matches(*, in_node: bool) -> str:
    """Same parameters as ``newest_name_matches``; reads the GIN index ``dossiers_fts``."""
    match = "to_tsvector('simple', name_folded) @@ to_tsquery('simple', ?)"
    if in_node:
        return f"SELECT id FROM dossiers WHERE {match} AND node = ? ORDER BY id DESC LIMIT ?"
    return f"SELECT id FROM dossiers WHERE {match} ORDER BY id DESC LIMIT ?"


def json_int(column: str, path: str) -> str:
    """SQLite: json_extract already gives a JSON number as an integer."""
    return json_value(column, path)


def json_true(column: str, path: str) -> str:
    """SQLite: json_extract gives JSON true as 1."""
    return json_value(column, path)


class Dialect:
    """One engine's SQL pieces, under the same names whatever the engine."""

    def __init__(self, name: str, **functions):
        self.name = name
        self.__dict__.update(functions)

    def __repr__(self) -> str:
        return f"<dialect {self.name}>"


SQLITE = Dialect("sqlite", json_value=json_value, json_int=json_int, json_true=json_true,
                 json_length=json_length, upsert=upsert, use_index=use_index, code_tail=code_tail,
                 name_query=name_query, newest_name_matches=newest_name_matches)
POSTGRES = Dialect("postgresql", json_value=pg_json_value, json_int=pg_json_int, json_true=pg_json_true,
                   json_length=pg_json_length, upsert=upsert, use_index=pg_use_index, code_tail=pg_code_tail,
                   name_query=pg_name_query, newest_name_matches=pg_newest_name_matches)


def of(conn) -> Dialect:
    """The dialect of a connection (a sqlite3 connection or central's PostgreSQL wrapper)."""
    return POSTGRES if getattr(conn, "dialect", None) == "postgresql" else SQLITE
