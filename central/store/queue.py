"""The liên thông queue: dossiers a commune handed up that central now holds, and the central
account each is assigned to (one assignment per hand-up, table ``assignments``).

A dossier is in the queue while central holds it (holder "central", an open hand-up to the upper
level); a decision sent back (``central.handback``) moves it to the "waiting for the commune" list.
"""
from __future__ import annotations

from datetime import datetime
from functools import cache

from appshell.sqlite import write_tx

from ..clock import iso
from . import dialect
from .dialect import LAST


@cache
def queue_sql(d: dialect.Dialect) -> str:
    last_handoff = d.json_length("d.doc", "handoffs") + " - 1"
    return f"""
SELECT d.code, d.node, n.name AS node_name, d.procedure_name, d.field, d.status, d.due_at, d.received_at,
       d.applicant_name, {d.json_value('d.doc', 'handoffs' + LAST + '.sent_at')} AS sent_at,
       {d.json_value('d.doc', 'handoffs' + LAST + '.note')} AS handoff_note,
       a.username AS assignee, h.outcome AS handed_back, h.at AS handed_back_at, h.actor AS handed_back_by
FROM dossiers d {d.use_index('dossiers_holder')}
JOIN nodes n ON n.id = d.node
LEFT JOIN assignments a ON a.code = d.code AND a.handoff_no = {last_handoff}
LEFT JOIN handbacks h ON h.code = d.code AND h.handoff_no = {last_handoff}
WHERE d.holder = 'central' AND {d.json_true('d.doc', 'handoffs' + LAST + '.upper')} AND
      {d.json_value('d.doc', 'handoffs' + LAST + '.returned_at')} IS NULL
ORDER BY d.due_at, d.code
"""  # (dossiers_holder: few rows are held by central; never walk all rows by due time)


QUEUE_SQL = queue_sql(dialect.SQLITE)

ASSIGN = dialect.upsert("assignments", ("code", "handoff_no", "username", "assigned_at", "assigned_by"),
                        key=("code", "handoff_no"))


def queue(conn) -> tuple[list[dict], list[dict]]:
    """(waiting for a decision, decided and waiting for the commune to sync)."""
    waiting, sent = [], []
    for r in conn.execute(queue_sql(dialect.of(conn))):
        (sent if r["handed_back"] else waiting).append(dict(r))
    return waiting, sent


def assignment(conn, code: str, handoff_no: int) -> dict | None:
    row = conn.execute("SELECT * FROM assignments WHERE code = ? AND handoff_no = ?", (code, handoff_no)).fetchone()
    return dict(row) if row else None


def assign(conn, code: str, handoff_no: int, username: str, *, by: str, now: datetime) -> None:
    """Assign the hand-up to ``username`` (replacing an earlier assignment)."""
    with write_tx(conn):
        conn.execute(ASSIGN, (code, handoff_no, username, iso(now), by))


def unassign(conn, code: str, handoff_no: int) -> None:
    with write_tx(conn):
        conn.execute("DELETE FROM assignments WHERE code = ? AND handoff_no = ?", (code, handoff_no))
