"""The SQL that differs between database engines, in one place.

Central runs on SQLite today; a PostgreSQL backend comes behind this seam. Every statement in
``central.store`` is plain SQL with qmark (``?``) parameters, except the pieces built here: JSON
documents (paths into them, decoding and encoding), upserts, planner hints, the code-tail
expression (which must match its expression index) and the diacritic-free name search. A second
engine supplies its own versions of these functions (and maps ``?`` to its own placeholder in its
connection wrapper); callers never spell them out.

Left outside this seam for now: ``domain.reports``' figure SQL (shared with the node, it uses
``json_extract`` and ``INDEXED BY`` hints) and the SQL of ``central.ingest``, ``central.feed``,
``central.handback``, ``central.online`` and ``central.bundle``.

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
