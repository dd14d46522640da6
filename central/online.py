"""Online dossiers (as the national portal sends them): registered at central, handed down to a commune.

Central builds the dossier's initial state with the same domain action the desk uses
(``domain.workflow.receive(..., online=True)``: status 1, no due time yet), from the latest
published catalogue, with the commune's agency code, and numbers it from its own daily counter in
the range the desks never use (``<agency>-YYMMDD-9001`` .. ``-9999``, ``domain.codes``). The state
travels as a ``dossier.handed_down`` entry in that commune's signed feed; the node creates the
dossier (status 1) and the clerk accepts it (-> 2, the due time starts) or refuses it (-> 3).
Central does not create a dossier row itself: the row appears when the node pushes its own
``dossier.registered`` event, so the node's chain stays the single source of truth.
"""
from __future__ import annotations

import json
from datetime import datetime

from appshell.sqlite import write_tx
from domain import workflow
from domain.calendar import WorkCalendar, parse_entries
from domain.catalogue import parse_procedure
from domain.citizen import Invalid
from domain.codes import MAX_PER_DAY, ONLINE_FIRST, format_code
from protocol.canonical import canonical_json

from . import feed
from .clock import iso

ENTRY_TYPE = "dossier.handed_down"


class OnlineError(workflow.WorkflowError):
    """Refused input; ``errors`` lists (field, Vietnamese message) like a WorkflowError."""


def _fail(field: str, message: str):
    raise OnlineError([Invalid(field, message)])


def procedures(conn) -> tuple[int, list]:
    """(version, procedures) of the latest published catalogue."""
    found = feed.latest(conn, "catalogue")
    if found is None:
        return 0, []
    version, body = found
    return version, [parse_procedure(p) for p in body["procedures"]]


def _calendar(conn) -> WorkCalendar:
    found = feed.latest(conn, "calendar")
    if found is None:
        return WorkCalendar()
    version, body = found
    return WorkCalendar(parse_entries(body["entries"]), version=version)


def next_code(conn, agency: str, now: datetime) -> str:
    """The next online code for the agency today; the caller holds the write transaction."""
    day = f"{now:%y%m%d}"
    row = conn.execute("SELECT last FROM online_counters WHERE agency = ? AND day = ?", (agency, day)).fetchone()
    number = max((row["last"] if row else 0) + 1, ONLINE_FIRST)
    if number > MAX_PER_DAY:
        _fail("node", f"Đơn vị {agency} đã dùng hết số hồ sơ trực tuyến của ngày hôm nay "
                      f"({ONLINE_FIRST}–{MAX_PER_DAY}).")
    conn.execute("INSERT INTO online_counters(agency, day, last) VALUES (?, ?, ?) "
                 "ON CONFLICT(agency, day) DO UPDATE SET last = excluded.last", (agency, day, number))
    return format_code(agency, now.date(), number)


def register(conn, *, node: str, procedure_code: str, applicant: dict, documents: list[dict],
             return_method: str, actor: str, now: datetime, source: str = "web") -> tuple[dict, dict]:
    """Register an online dossier for ``node`` and queue it in that node's feed.

    Returns (state, feed entry). Raises OnlineError / WorkflowError (nothing written, no number used).
    """
    if not isinstance(applicant, dict):
        _fail("applicant", "Thiếu thông tin người nộp hồ sơ.")
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        _fail("documents", "Danh sách giấy tờ không hợp lệ.")
    with write_tx(conn):
        row = conn.execute("SELECT id, status FROM nodes WHERE id = ?", (node or "",)).fetchone()
        if row is None:
            _fail("node", "Chọn đơn vị cấp xã nhận hồ sơ.")
        if row["status"] != "active":
            _fail("node", f"Đơn vị {node} chưa kết nối hoặc đã bị thu hồi: không thể chuyển hồ sơ xuống.")
        version, catalogue = procedures(conn)
        procedure = next((p for p in catalogue if p.code == procedure_code), None)
        if procedure is None:
            _fail("procedure_code", "Chọn thủ tục trong danh mục đã xuất bản.")
        calendar = _calendar(conn)
        code = next_code(conn, node, now)  # a refused form rolls the counter back: no number is burned
        change = workflow.receive(procedure=procedure, applicant=applicant, documents=documents, channel="online",
                                  return_method=return_method, code=code, agency=node, now=now, calendar=calendar,
                                  catalogue_version=version, actor=actor, register_no=None, online=True)
        state = change.data["dossier"]
        entry = feed.append_feed(conn, node, ENTRY_TYPE, code, {"dossier": state}, actor, now)
        conn.execute("INSERT INTO online_dossiers(code, node, procedure_code, procedure_name, feed_seq, registered_at, "
                     "actor, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (code, node, procedure.code, procedure.name, entry["seq"], iso(now), actor, source))
    return state, entry


def listing(conn, *, node: str | None = None, limit: int = 200) -> list[dict]:
    """Online dossiers central handed down, newest first, with the status the node last reported."""
    where, args = ("WHERE o.node = ?", (node,)) if node else ("", ())
    return [dict(r) for r in conn.execute(f"""
        SELECT o.code, o.node, n.name AS node_name, o.procedure_name, o.registered_at, o.actor, o.source, o.feed_seq,
               d.status, d.received_at, d.due_at, d.applicant_name
        FROM online_dossiers o JOIN nodes n ON n.id = o.node LEFT JOIN dossiers d ON d.code = o.code
        {where} ORDER BY o.registered_at DESC, o.code DESC LIMIT ?""", (*args, limit))]


def adopt_node_code(conn, node: str, code: str, event: dict, now: datetime) -> str | None:
    """A node pushed ``dossier.registered`` for online code ``code``; central's write transaction is open.

    Central re-learns what the node holds: an online dossier it forgot (restored from an older
    backup) is recorded again; if central meanwhile issued the same code to another dossier, that
    dossier is handed down again under a fresh code (the counter already moved past ``code``), so
    both reach the commune. Returns a message for the anomaly list when a dossier was re-issued.
    """
    held = event["data"]["dossier"]
    row = conn.execute("SELECT node, feed_seq FROM online_dossiers WHERE code = ?", (code,)).fetchone()
    message = None
    if row is not None:
        entry = conn.execute("SELECT body FROM feed WHERE node = ? AND seq = ?",
                             (row["node"], row["feed_seq"])).fetchone()
        issued = json.loads(entry["body"])["data"]["dossier"] if entry else None
        if issued is not None and canonical_json(issued) == canonical_json(held):
            return None
        if issued is None:
            return None
        new_code = next_code(conn, row["node"], now)
        state = dict(issued, code=new_code)
        reissued = feed.append_feed(conn, row["node"], ENTRY_TYPE, new_code, {"dossier": state}, "central", now)
        conn.execute("UPDATE online_dossiers SET code = ?, feed_seq = ? WHERE code = ?",
                     (new_code, reissued["seq"], code))
        message = (f"{code}: online code issued twice (central restored from an older backup?); central's "
                   f"dossier handed down again as {new_code}")
    actor = str(event.get("actor") or "central")
    conn.execute("INSERT OR IGNORE INTO online_dossiers(code, node, procedure_code, procedure_name, feed_seq, "
                 "registered_at, actor, source) VALUES (?, ?, ?, ?, ?, ?, ?, 'web')",
                 (code, node, str(held.get("procedure_code")), str(held.get("procedure_name")),
                  int(event["data"].get("feed_seq") or 0) if isinstance(event["data"].get("feed_seq"), int) else 0,
                  str(held.get("created_at") or event["at"]),
                  actor[len("central:"):] if actor.startswith("central:") else actor))
    return message
