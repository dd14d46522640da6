"""Attaching, removing, exempting and reusing a dossier's documents; the results register; capture links.

Every change follows the blob rule of node/blobs.py: the file is normalised and made durable first,
then ONE transaction writes the ``blobs`` row, the event and the dossier row. Refusals raise
``DocumentRefused`` (a machine code and a Vietnamese message) and change nothing.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from appshell.sqlite import write_tx
from domain import digitisation, workflow

from . import blob_outbox, scans, store
from .blobs import BlobStore


class DocumentRefused(ValueError):
    def __init__(self, code: str, message: str, status: int = 422):
        self.code, self.status = code, status
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


def caps(settings: dict) -> tuple[int, int]:
    return settings["document_max_file_mb"] * 2**20, settings["document_max_dossier_mb"] * 2**20


def _load_held(conn, code: str) -> dict:
    state = store.get(conn, code)
    if state is None:
        raise DocumentRefused("not_found", f"Không có hồ sơ {code}.", 404)
    if state["holder"] != "node":
        raise DocumentRefused("not_holder", "Hồ sơ đang do cấp trên xử lý; bộ phận một cửa chưa thể thay đổi.", 409)
    return state


def _commit(ctx: store.Context, code: str, etype: str, data_fn, blob_rows=()) -> dict:
    """Re-read the dossier inside the write transaction, build the event data, write everything."""
    with write_tx(ctx.conn):
        state = _load_held(ctx.conn, code)
        try:
            data = data_fn(state)
        except digitisation.DigitisationError as exc:
            raise DocumentRefused(exc.errors[0].field, exc.message) from None
        for row in blob_rows:
            ctx.conn.execute("INSERT OR IGNORE INTO blobs(hash, size, mime, pages, stored_at, thumb) "
                             "VALUES (?, ?, ?, ?, ?, ?)", row)
            blob_outbox.queue(ctx.conn, row[0], row[4])
        return store._write(ctx.conn, ctx, state, workflow.Change(etype, data), code)


@dataclass(frozen=True)
class Prepared:
    """A normalised upload already durable in the blob store, not yet named by any event."""
    hash: str
    size: int
    mime: str
    pages: int
    original_size: int
    thumb: str | None


def normalise(settings: dict, files: list[bytes]) -> scans.Normalised:
    """Normalise one component's files (nothing written). Raises DocumentRefused."""
    try:
        return scans.normalise(files, caps(settings)[0])
    except scans.ScanRefused as exc:
        raise DocumentRefused(exc.code, exc.message, 413 if exc.code == "too_large" else 422) from None


def store_normalised(blobs: BlobStore, normalised: scans.Normalised) -> Prepared:
    """Make a normalised upload durable in the blob store (before any event names it)."""
    digest = blobs.put(normalised.data)
    thumb = blobs.put(normalised.thumbnail) if normalised.thumbnail else None
    return Prepared(digest, normalised.size, normalised.mime, normalised.pages, normalised.original_size, thumb)


def prepare(blobs: BlobStore, settings: dict, files: list[bytes]) -> Prepared:
    """Normalise one component's files and store the result durably. Raises DocumentRefused."""
    return store_normalised(blobs, normalise(settings, files))


def record(ctx: store.Context, settings: dict, code: str, component, prepared: Prepared,
           source: str = "file") -> dict:
    """The ``blobs`` row and ``attachment.added`` for a prepared upload, in one transaction."""
    attachment_id = uuid.uuid4().hex[:16]
    meta = {"hash": prepared.hash, "size": prepared.size, "mime": prepared.mime, "pages": prepared.pages,
            "original_size": prepared.original_size}
    at = workflow.iso(ctx.now)
    new = _commit(ctx, code, "attachment.added",
                  lambda s: digitisation.add(s, meta, component=component, source=source, at=at, by=ctx.actor,
                                             attachment_id=attachment_id, dossier_cap_bytes=caps(settings)[1]),
                  blob_rows=[(prepared.hash, prepared.size, prepared.mime, prepared.pages, at, prepared.thumb)])
    return find_attachment(new, attachment_id)


def attach(ctx: store.Context, blobs: BlobStore, settings: dict, code: str, component, files: list[bytes],
           source: str = "file") -> dict:
    """Normalise one component's upload, store it and record ``attachment.added``. Returns the attachment.

    Every check that can refuse (dossier, holder, component, type, caps) runs before the blob is written,
    so a refusal leaves no file behind; the same checks run again inside the write transaction.
    """
    state = _load_held(ctx.conn, code)
    try:
        digitisation.component_index(state, component)
    except digitisation.DigitisationError as exc:
        raise DocumentRefused("component", exc.message) from None
    normalised = normalise(settings, files)
    meta = {"hash": "0" * 64, "size": normalised.size, "mime": normalised.mime, "pages": normalised.pages}
    try:
        digitisation.add(state, meta, component=component, source=source, at="", by=ctx.actor, attachment_id="-",
                         dossier_cap_bytes=caps(settings)[1])
    except digitisation.DigitisationError as exc:
        raise DocumentRefused(exc.errors[0].field, exc.message) from None
    return record(ctx, settings, code, component, store_normalised(blobs, normalised), source)


def remove(ctx: store.Context, code: str, attachment_id: str, reason: str) -> dict:
    at = workflow.iso(ctx.now)
    return _commit(ctx, code, "attachment.removed", lambda s: digitisation.remove(s, attachment_id, reason, at))


def mark(ctx: store.Context, code: str, component, exemption: str | None) -> dict:
    return _commit(ctx, code, "digitisation.marked", lambda s: digitisation.mark(s, component, exemption or None))


def register_result(ctx: store.Context, code: str, params: dict) -> dict:
    at = workflow.iso(ctx.now)
    return _commit(ctx, code, "result.registered", lambda s: digitisation.register_result(params, at, ctx.actor))


def find_attachment(state: dict, attachment_id: str) -> dict | None:
    return next((a for a in state.get("attachments") or [] if a["id"] == attachment_id), None)


# --- reuse (Decree 45/2020: never ask twice for a paper already held) ---------------------------

def earlier_papers(conn, id_number: str, today, exclude: str | None = None) -> list[dict]:
    """The citizen's digitised papers and results in earlier dossiers, newest first, with validity."""
    if not id_number:
        return []
    out = []
    for row in conn.execute("SELECT code, doc FROM dossiers WHERE id_number = ? AND code IS NOT ? "
                            "ORDER BY received_at DESC LIMIT 50", (id_number, exclude)):
        state = json.loads(row["doc"])
        record = state.get("result_record")
        for a in digitisation.active(state):
            if a["component"] == digitisation.RESULT:
                name, valid = "Kết quả: " + state["procedure_name"], digitisation.result_valid(record, today)
                valid_until = (record or {}).get("valid_until")
            else:
                name, valid, valid_until = state["documents"][a["component"]]["name"], True, None
            out.append({"dossier": state["code"], "attachment": a["id"], "name": name, "mime": a["mime"],
                        "pages": a["pages"], "hash": a["hash"], "at": a["at"], "valid": valid,
                        "valid_until": valid_until, "is_result": a["component"] == digitisation.RESULT,
                        "result": record if a["component"] == digitisation.RESULT else None})
    return out


def reuse(ctx: store.Context, code: str, component, from_code: str, attachment_id: str) -> dict:
    """Reference an earlier dossier's paper (same citizen): no copy, the same blob, ``source = reuse``."""
    with write_tx(ctx.conn):
        state = _load_held(ctx.conn, code)
        old = store.get(ctx.conn, from_code)
        if old is None or old["applicant"]["id_number"] != state["applicant"]["id_number"] or \
                not state["applicant"]["id_number"]:
            raise DocumentRefused("not_found", "Không có giấy tờ này của cùng công dân để dùng lại.", 404)
        paper = find_attachment(old, attachment_id)
        if paper is None or paper.get("removed_at"):
            raise DocumentRefused("not_found", "Không có giấy tờ này của cùng công dân để dùng lại.", 404)
        if ctx.conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (paper["hash"],)).fetchone() is None:
            raise DocumentRefused("blob_missing", "Tệp của giấy tờ cũ không còn trên máy này.", 409)
        new_id = uuid.uuid4().hex[:16]
        meta = {k: paper[k] for k in ("hash", "size", "mime", "pages", "original_size")}
        try:
            data = digitisation.add(state, meta, component=component, source="reuse", at=workflow.iso(ctx.now),
                                    by=ctx.actor, attachment_id=new_id, reused_from=f"{from_code}/{attachment_id}")
        except digitisation.DigitisationError as exc:
            raise DocumentRefused(exc.errors[0].field, exc.message) from None
        new = store._write(ctx.conn, ctx, state, workflow.Change("attachment.added", data), code)
    return find_attachment(new, new_id)


# --- one-time phone-capture links -------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_capture_link(conn, code: str, username: str, component, now: datetime, minutes: int) -> str:
    """A one-time token bound to this dossier, clerk and component; only its hash is kept."""
    state = _load_held(conn, code)
    try:
        index = digitisation.component_index(state, component)
    except digitisation.DigitisationError as exc:
        raise DocumentRefused("component", exc.message) from None
    token = secrets.token_urlsafe(24)
    with write_tx(conn):
        conn.execute("DELETE FROM capture_links WHERE expires_at < ?", (workflow.iso(now),))
        conn.execute("INSERT INTO capture_links(token_hash, dossier, username, component, created_at, expires_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (_token_hash(token), code, username, str(index),
                                                   workflow.iso(now),
                                                   workflow.iso(now + timedelta(minutes=minutes))))
    return token


def claim_capture_link(conn, token: str, now: datetime) -> tuple[dict, str]:
    """First opening: binds the link to the phone (returns a device secret for its cookie). Once only."""
    device = secrets.token_urlsafe(24)
    with write_tx(conn):
        updated = conn.execute(
            "UPDATE capture_links SET claimed_at = ?, device_hash = ? "
            "WHERE token_hash = ? AND claimed_at IS NULL AND expires_at >= ?",
            (workflow.iso(now), _token_hash(device), _token_hash(token), workflow.iso(now)))
        if updated.rowcount != 1:
            raise DocumentRefused("link_used", "Liên kết chụp ảnh đã được dùng hoặc đã hết hạn. "
                                               "Vui lòng tạo mã QR mới trên máy tính.", 410)
    return capture_link(conn, token, device, now), device


def capture_link(conn, token: str, device: str | None, now: datetime) -> dict:
    row = conn.execute("SELECT * FROM capture_links WHERE token_hash = ?", (_token_hash(token),)).fetchone()
    if row is None or row["expires_at"] < workflow.iso(now) or not device or \
            row["device_hash"] != _token_hash(device):
        raise DocumentRefused("link_used", "Liên kết chụp ảnh đã được dùng hoặc đã hết hạn. "
                                           "Vui lòng tạo mã QR mới trên máy tính.", 410)
    return dict(row)


# --- the results register (sổ kết quả) -------------------------------------------------------

def results_register(conn, year: int, id_number: str | None = None) -> list[dict]:
    """Results registered in ``year`` (by the result's date), oldest first; optionally one citizen's."""
    sql = ("SELECT doc FROM dossiers WHERE json_extract(doc, '$.result_record.date') >= ? "
           "AND json_extract(doc, '$.result_record.date') < ?")
    args: tuple = (f"{year:04d}-01-01", f"{year + 1:04d}-01-01")
    if id_number:
        sql += " AND id_number = ?"
        args += (id_number,)
    rows = []
    for row in conn.execute(sql + " ORDER BY json_extract(doc, '$.result_record.date'), code", args):
        state = json.loads(row["doc"])
        rows.append({"code": state["code"], "procedure_name": state["procedure_name"],
                     "applicant_name": state["applicant"]["name"], "id_number": state["applicant"]["id_number"],
                     "record": state["result_record"], "files": digitisation.result_files(state)})
    return rows
