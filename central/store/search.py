"""Finding dossiers across every commune: by code, ID number, phone, or name typed without diacritics.

Every branch is an indexed lookup (code, code tail, id_number, phone, the FTS5 index on
``name_folded``); results come back newest first with ID numbers masked. Reading them is
recorded in the access log by the caller, who knows who is looking. The full-text and code-tail
expressions come from ``dialect``.
"""
from __future__ import annotations

import re

from domain.citizen import mask_id_number, normalize_phone
from domain.codes import looks_like_code
from domain.text import fold

from . import dialect

MAX_RESULTS = 200
LIST_COLUMNS = ("code", "node", "agency", "procedure_code", "procedure_name", "field", "channel", "status",
                "holder", "received_at", "due_at", "resolved_at", "result_class", "applicant_name", "id_number",
                "updated_at")


def _where(d: dialect.Dialect, text: str, node: str | None, window: int) -> tuple[str, tuple] | None:
    if looks_like_code(text):
        return "code = ?", (text.upper(),)
    if re.search(r"\d{6}-\d{4}$", text):  # the tail of a code: "260105-0001"
        return f"{d.code_tail()} = ? AND code LIKE ?", (text[-4:], f"%{text.upper()}")
    compact = re.sub(r"[\s.\-]", "", text)
    if re.fullmatch(r"\+?\d{4,12}", compact):
        # separate indexed lookups (an OR with a leading-% LIKE would scan the whole table)
        where = "id IN (SELECT id FROM dossiers WHERE id_number = ? UNION SELECT id FROM dossiers WHERE phone = ?"
        args: tuple = (compact, normalize_phone(compact))
        if len(compact) == 4:
            where += f" UNION SELECT id FROM dossiers WHERE {d.code_tail()} = ?"
            args += (compact,)
        return where + ")", args
    match = d.name_query(fold(text))
    if match is None:
        return None
    if node:
        return f"id IN ({d.newest_name_matches(in_node=True)})", (match, node, window)
    return f"id IN ({d.newest_name_matches(in_node=False)})", (match, window)


def search(conn, query: str, *, node: str | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
    """Matching dossiers (newest first), ID numbers masked; [] for an empty or unusable query.

    A name search pages through matches newest-arrived first, each page in order of receipt.
    """
    text = (query or "").strip()
    if not text:
        return []
    limit = max(1, min(int(limit), MAX_RESULTS))
    offset = max(0, int(offset))
    found = _where(dialect.of(conn), text, node, offset + limit)
    if found is None:
        return []
    where, args = found
    if node:
        where += " AND node = ?"
        args += (node,)
    rows = conn.execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM dossiers WHERE {where} "
                        f"ORDER BY received_at DESC, code LIMIT ? OFFSET ?", (*args, limit, offset))
    return [masked(r) for r in rows]


def masked(row) -> dict:
    out = {k: row[k] for k in LIST_COLUMNS}
    out["id_number"] = mask_id_number(out["id_number"])
    return out
