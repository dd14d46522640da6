"""Dossier persistence: every change is ONE transaction that writes the row and its event."""
from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime

from appshell.sqlite import write_tx
from domain import workflow
from domain.citizen import normalize_phone
from domain.codes import DESK_MAX_PER_DAY, format_code, looks_like_code
from domain.dossier import apply_event, project
from domain.statuses import CLOCK_RUNNING
from domain.text import fold
from domain.validation import EventInvalid, check_event
from protocol.canonical import canonical_json

from . import events, reference
from .clock import legal_time

log = logging.getLogger("motcua.store")


class NotFound(LookupError):
    pass


class NotHolder(PermissionError):
    """The dossier is held by another party (e.g. handed up to central)."""


@dataclass(frozen=True)
class Context:
    """Who is acting, where and when; one per request.

    ``now`` is this PC's clock, which the store corrects to the legal time; or, when ``pc_now`` is given
    (a web request: node/views/context.py), ``now`` is already the legal time and ``pc_now`` the PC's
    clock it came from. Either way the store corrects from the PC's time, once, inside its transaction.
    """
    conn: sqlite3.Connection
    node: str
    agency: str
    actor: str
    now: datetime
    calendar_cache: reference.CalendarCache
    pc_now: datetime | None = None


def _next_counter(conn, name: str) -> int:
    return conn.execute(
        "INSERT INTO counters(name, value) VALUES (?, 1) "
        "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value", (name,)).fetchone()[0]


def save_row(conn, state: dict, state_before: dict | None) -> None:
    """Insert or update a dossier row from its state; the update is conditional on the old version."""
    row = project(state)
    row["doc"] = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    columns = ", ".join(row)
    if state_before is None:
        conn.execute(f"INSERT INTO dossiers({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        return
    assignments = ", ".join(f"{c} = ?" for c in row if c != "code")
    updated = conn.execute(f"UPDATE dossiers SET {assignments} WHERE code = ? AND updated_at = ?",
                           (*[v for c, v in row.items() if c != "code"], state["code"], state_before["updated_at"]))
    if updated.rowcount != 1:
        raise RuntimeError(f"dossier {state['code']} changed under this transaction")


def _legal(ctx: Context) -> tuple[Context, dict | None]:
    """The context at the legal time (PC clock corrected by central's, when off), and the record of it."""
    pc = ctx.pc_now or ctx.now  # always from the PC's clock: never corrected twice
    legal = legal_time(ctx.conn, pc)
    return replace(ctx, now=legal.now, pc_now=pc), (legal.record() if legal.corrected else None)


def _write(conn, ctx: Context, state_before: dict | None, change: workflow.Change, code: str,
           clock: dict | None = None) -> dict:
    if clock is not None:  # the event records both the PC's time and the corrected one
        change = workflow.Change(change.type, {**change.data, "clock": clock})
    # the same check central runs before it materialises a pushed event: never append what it would refuse
    probe = {"type": change.type, "dossier": code, "data": change.data, "at": workflow.iso(ctx.now)}
    try:
        check_event(state_before, probe, size=len(canonical_json(probe)))
    except EventInvalid as exc:
        log.warning("refused to append an event central would refuse: %s", exc)  # field names only, no values
        raise workflow.WorkflowError([workflow.Invalid("dossier", "Dữ liệu hồ sơ không hợp lệ, không thể lưu.")]) \
            from exc
    event = events.append(conn, node=ctx.node, type=change.type, dossier=code, data=change.data,
                          actor=ctx.actor, at=workflow.iso(ctx.now))
    state = apply_event(state_before, event)
    save_row(conn, state, state_before)
    return state


def receive(ctx: Context, *, procedure_code: str, applicant: dict, documents: list[dict],
            channel: str, return_method: str, representative: dict | None = None) -> dict:
    """Counter intake: allocate the code and register number, compute the due time, save."""
    conn = ctx.conn
    with write_tx(conn):
        ctx, clock = _legal(ctx)
        procedure = reference.procedure(conn, procedure_code)
        if procedure is None:  # say everything else that is wrong too, so the clerk fixes it in one go
            raise workflow.WorkflowError([workflow.Invalid("procedure", "Chọn thủ tục hành chính trong danh mục.")]
                                         + workflow.check_intake(applicant, documents, channel, return_method)[2])
        calendar = ctx.calendar_cache.get(conn)
        day_seq = _next_counter(conn, f"day:{ctx.agency}:{ctx.now:%y%m%d}")
        if day_seq > DESK_MAX_PER_DAY:
            raise workflow.WorkflowError([workflow.Invalid(
                "procedure", f"Đã dùng hết {DESK_MAX_PER_DAY} số hồ sơ của ngày hôm nay.")])
        register_no = _next_counter(conn, f"register:{ctx.now:%Y}")
        code = format_code(ctx.agency, ctx.now.date(), day_seq)
        change = workflow.receive(
            procedure=procedure, applicant=applicant, documents=documents, channel=channel,
            return_method=return_method, code=code, agency=ctx.agency, now=ctx.now, calendar=calendar,
            catalogue_version=reference.version(conn, "catalogue"), actor=ctx.actor, register_no=register_no,
            representative=representative)
        if clock is not None:  # the receipt (form 01) says the time is central's, not this PC's
            change.data["dossier"]["clock_correction"] = clock
        return _write(conn, ctx, None, change, code, clock)


def get(conn, code: str) -> dict | None:
    row = conn.execute("SELECT doc FROM dossiers WHERE code = ?", (code,)).fetchone()
    return json.loads(row["doc"]) if row else None


def _held(conn, code: str) -> dict:
    """The dossier's state, if it exists and this node holds it (NotFound / NotHolder otherwise)."""
    state = get(conn, code)
    if state is None:
        raise NotFound(code)
    if state["holder"] != "node":
        raise NotHolder(code)
    return state


def act(ctx: Context, code: str, action: str, params: dict) -> dict:
    """Apply a workflow action; an illegal one raises WorkflowError and changes nothing."""
    if action not in workflow.ACTIONS:
        raise workflow.WorkflowError([workflow.Invalid("action", "Thao tác không hợp lệ.")])
    fn = workflow.ACTIONS[action][0]
    conn = ctx.conn
    with write_tx(conn):
        ctx, clock = _legal(ctx)
        state = _held(conn, code)
        procedure = reference.procedure(conn, state["procedure_code"])
        if action == "accept":  # an online dossier enters this desk's register when accepted
            params = dict(params, register_no=_next_counter(conn, f"register:{ctx.now:%Y}"))
        change = fn(state, params, ctx.now, ctx.calendar_cache.get(conn), procedure)
        return _write(conn, ctx, state, change, code, clock)


def correct(ctx: Context, code: str, params: dict, role: str) -> dict:
    """Correct an intake mistake (``dossier.corrected``); ``params["procedure"]`` is a catalogue code."""
    conn = ctx.conn
    with write_tx(conn):
        ctx, clock = _legal(ctx)
        state = _held(conn, code)
        params = dict(params)
        if params.get("procedure"):
            procedure = reference.procedure(conn, params["procedure"])
            if procedure is None:
                raise workflow.WorkflowError([workflow.Invalid("procedure", "Chọn thủ tục hành chính trong danh mục.")])
            params["procedure"] = procedure
        else:
            params.pop("procedure", None)
        change = workflow.correct(state, params, ctx.now, ctx.calendar_cache.get(conn), role=role)
        return _write(conn, ctx, state, change, code, clock)


def log_access(conn, username: str, code: str, action: str, at: datetime) -> None:
    with write_tx(conn):
        conn.execute("INSERT INTO access_log(at, username, dossier, action) VALUES (?, ?, ?, ?)",
                     (workflow.iso(at), username, code, action))


def log_accesses(conn, username: str, codes: list[str], action: str, at: datetime) -> None:
    """One access_log row per dossier shown (or one ``*search*`` row when none was)."""
    with write_tx(conn):
        conn.executemany("INSERT INTO access_log(at, username, dossier, action) VALUES (?, ?, ?, ?)",
                         [(workflow.iso(at), username, code, action) for code in (codes or ["*search*"])])


def search_kind(query: str) -> str:
    """What a search looks for, for the access log: code, id_number, phone or name."""
    text = (query or "").strip()
    if looks_like_code(text) or re.search(r"\d{6}-\d{4}$", text):
        return "code"
    compact = re.sub(r"[\s.\-]", "", text)
    if re.fullmatch(r"\+?\d{4,12}", compact):
        if compact.startswith("+") or len(compact) == 10:
            return "phone"
        return "id_number" if len(compact) in (9, 12) else "digits"
    return "name"


# --- lists and search ------------------------------------------------------------------------

LIST_COLUMNS = ("code, procedure_code, procedure_name, field, channel, status, handler, holder, received_at, "
                "due_at, resolved_at, returned_at, result_class, applicant_name, id_number, phone, rating")
_RUNNING = ",".join(str(int(s)) for s in CLOCK_RUNNING)


def _rows(conn, where: str, args: tuple, order: str, limit: int, offset: int = 0) -> list[dict]:
    sql = f"SELECT {LIST_COLUMNS} FROM dossiers WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    return [dict(r) for r in conn.execute(sql, (*args, limit, offset))]


def list_today(conn, now: datetime, limit=200, offset=0):
    return _rows(conn, "received_at >= ?", (f"{now:%Y-%m-%d}T00:00:00",), "received_at DESC", limit, offset)


def list_due_soon(conn, now: datetime, calendar, days: int = 2, limit=200, offset=0):
    horizon = calendar.add_working_minutes(now, days * calendar.minutes_per_day)
    return _rows(conn, f"status IN ({_RUNNING}) AND due_at >= ? AND due_at <= ?",
                 (workflow.iso(now), workflow.iso(horizon)), "due_at", limit, offset)


def list_overdue(conn, now: datetime, limit=200, offset=0):
    return _rows(conn, f"status IN ({_RUNNING}) AND due_at < ?", (workflow.iso(now),), "due_at", limit, offset)


def list_by_status(conn, status: int, limit=200, offset=0):
    return _rows(conn, "status = ?", (status,), "received_at DESC", limit, offset)


def list_by_handler(conn, handler: str, limit=200, offset=0):
    return _rows(conn, "handler = ? AND status NOT IN (3, 8, 10)", (handler,), "due_at", limit, offset)


def handlers(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT handler FROM dossiers WHERE handler IS NOT NULL ORDER BY handler")]


def _fts_query(folded: str) -> str | None:
    words = re.findall(r"[0-9a-z]+", folded)
    if not words:
        return None
    # phrase with a prefix on the last word, so "nguyen van d" already finds "Nguyễn Văn Dũng"
    return '"' + " ".join(words) + '"*'


def search(conn, query: str, limit: int = 50) -> list[dict]:
    """By dossier code, ID number, phone, or name typed with or without diacritics."""
    text = (query or "").strip()
    if not text:
        return []
    if looks_like_code(text):
        return _rows(conn, "code = ?", (text.upper(),), "received_at DESC", limit)
    if re.search(r"\d{6}-\d{4}$", text):  # the tail of a code: "231027-0361"
        return _rows(conn, "code LIKE ?", (f"%{text.upper()}",), "received_at DESC", limit)
    compact = re.sub(r"[\s.\-]", "", text)
    if re.fullmatch(r"\+?\d{4,12}", compact):
        # separate indexed lookups (an OR with a leading-% LIKE would scan the whole table)
        where = "id IN (SELECT id FROM dossiers WHERE id_number = ? UNION SELECT id FROM dossiers WHERE phone = ?"
        args: tuple = (compact, normalize_phone(compact))
        if len(compact) == 4:
            where += " UNION SELECT id FROM dossiers WHERE substr(code, -4) = ?"
            args += (compact,)
        return _rows(conn, where + ")", args, "received_at DESC", limit)
    match = _fts_query(fold(text))
    if match is None:
        return []
    return _rows(conn, "id IN (SELECT rowid FROM dossiers_fts WHERE dossiers_fts MATCH ?)", (match,),
                 "received_at DESC", limit)


# --- filtered, paged lists with true totals (issue 12.6) -------------------------------------

LIST_KINDS = {
    "hom-nay": "Hồ sơ tiếp nhận hôm nay",
    "sap-den-han": "Hồ sơ đến hạn trong 2 ngày làm việc",
    "qua-han": "Hồ sơ quá hạn",
    "den-han-hom-nay": "Hồ sơ đến hạn hôm nay",
    "cho-tiep-nhan": "Hồ sơ trực tuyến chờ tiếp nhận",
    "co-ket-qua": "Hồ sơ đã có kết quả, chờ trả",
}
SORTS = {"moi-nhat": "received_at DESC, code DESC", "han-tra": "due_at IS NULL, due_at, code",
         "cu-nhat": "received_at, code"}


@dataclass(frozen=True)
class ListQuery:
    kind: str | None = None
    status: int | None = None
    handler: str | None = None
    procedure: str | None = None
    field: str | None = None
    channel: str | None = None
    date_from: str | None = None  # ISO dates of receipt, inclusive
    date_to: str | None = None
    sort: str = "moi-nhat"


def _list_where(q: ListQuery, now: datetime, calendar) -> tuple[str, tuple]:
    where, args = ["1 = 1"], []
    if q.kind == "hom-nay":
        where.append("received_at >= ?")
        args.append(f"{now:%Y-%m-%d}T00:00:00")
    elif q.kind == "sap-den-han":
        horizon = calendar.add_working_minutes(now, 2 * calendar.minutes_per_day)
        where.append(f"status IN ({_RUNNING}) AND due_at >= ? AND due_at <= ?")
        args += [workflow.iso(now), workflow.iso(horizon)]
    elif q.kind == "qua-han":
        where.append(f"status IN ({_RUNNING}) AND due_at < ?")
        args.append(workflow.iso(now))
    elif q.kind == "den-han-hom-nay":
        where.append(f"status IN ({_RUNNING}) AND due_at >= ? AND due_at <= ?")
        args += [f"{now:%Y-%m-%d}T00:00:00", f"{now:%Y-%m-%d}T23:59:59"]
    elif q.kind == "cho-tiep-nhan":
        where.append("status = 1")
    elif q.kind == "co-ket-qua":
        where.append("status = 9")
    if q.status is not None:
        where.append("status = ?")
        args.append(q.status)
    if q.handler:
        where.append("handler = ?")
        args.append(q.handler)
    for column, value in (("procedure_code", q.procedure), ("field", q.field), ("channel", q.channel)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if q.date_from:
        where.append("received_at >= ?")
        args.append(f"{q.date_from}T00:00:00")
    if q.date_to:
        where.append("received_at <= ?")
        args.append(f"{q.date_to}T23:59:59")
    return " AND ".join(where), tuple(args)


def find(conn, q: ListQuery, now: datetime, calendar, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """One page of the list and the TRUE total of rows matching (badges and headings show it)."""
    where, args = _list_where(q, now, calendar)
    total = conn.execute(f"SELECT count(*) FROM dossiers WHERE {where}", args).fetchone()[0]
    order = SORTS.get(q.sort, SORTS["moi-nhat"])
    return _rows(conn, where, args, order, limit, offset), total


def count(conn, q: ListQuery, now: datetime, calendar) -> int:
    where, args = _list_where(q, now, calendar)
    return conn.execute(f"SELECT count(*) FROM dossiers WHERE {where}", args).fetchone()[0]


def list_fields(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT field FROM dossiers ORDER BY field")]
