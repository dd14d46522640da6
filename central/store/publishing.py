"""Publishing: editing the procedure catalogue and the holiday calendar as drafts, then publishing a version.

An admin's edits go to a draft (table ``drafts``, one per kind) that starts as a copy of the
latest published version. Every change is validated with the domain's own parsers
(``domain.catalogue.parse_procedure`` / ``parse_catalogue``, ``domain.calendar.parse_entries``),
so a draft can never hold what a node would refuse. "Xuất bản" publishes the draft as version
latest + 1 through ``central.feed.publish``, which queues it in every active node's signed feed,
and deletes the draft.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appshell.sqlite import write_tx
from domain.calendar import CalendarError, parse_entries
from domain.catalogue import CatalogueError, parse_catalogue, parse_procedure

from .. import feed
from ..clock import iso
from . import dialect, nodes

KINDS = ("catalogue", "calendar")
EMPTY = {"catalogue": {"procedures": []}, "calendar": {"entries": []}}


class DraftError(ValueError):
    """An edit or publication refused; ``message`` is Vietnamese, ``detail`` the parser's English text."""

    def __init__(self, message: str, detail: str = "", field: str = ""):
        super().__init__(message)
        self.message, self.detail, self.field = message, detail, field


@dataclass(frozen=True)
class Draft:
    kind: str
    base_version: int      # the published version the draft started from
    published_version: int  # the latest published version now
    body: dict
    saved: bool             # False: nothing edited yet (the body is the published version)
    updated_at: str | None
    updated_by: str | None

    @property
    def stale(self) -> bool:
        """Someone published after this draft was started."""
        return self.saved and self.base_version < self.published_version


def published_versions(conn) -> dict[str, int]:
    """The latest published version of each kind (0: never published)."""
    found = {kind: 0 for kind in KINDS}
    for row in conn.execute("SELECT kind, MAX(version) AS v FROM reference GROUP BY kind"):
        found[row["kind"]] = row["v"]
    return found


def nodes_behind(conn) -> dict[str, list[dict]]:
    """Per kind, the active nodes that have not applied the latest published version (or not said)."""
    latest = published_versions(conn)
    applied = nodes.applied_versions(conn)
    out = {kind: [] for kind in latest}
    for agency, name in nodes.names(conn, active_only=True):
        for kind, version in latest.items():
            have = applied.get(agency, {}).get(kind)
            if have is None or have < version:
                out[kind].append({"id": agency, "name": name, "applied": have})
    return out


def published(conn, kind: str) -> tuple[int, dict]:
    found = feed.latest(conn, kind)
    return found if found else (0, json.loads(json.dumps(EMPTY[kind])))


def get(conn, kind: str) -> Draft:
    _check_kind(kind)
    version, body = published(conn, kind)
    row = conn.execute("SELECT * FROM drafts WHERE kind = ?", (kind,)).fetchone()
    if row is None:
        return Draft(kind, version, version, body, False, None, None)
    return Draft(kind, row["base_version"], version, dialect.from_json(row["body"]), True, row["updated_at"],
                 row["updated_by"])


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise DraftError(f"Không có loại dữ liệu “{kind}”.")


SAVE_DRAFT = dialect.upsert("drafts", ("kind", "base_version", "body", "updated_at", "updated_by"), key=("kind",),
                            update=("body", "updated_at", "updated_by"))  # a draft keeps the version it started from


def _save(conn, kind: str, base_version: int, body: dict, actor: str, now: datetime) -> None:
    conn.execute(SAVE_DRAFT, (kind, base_version, dialect.to_json(body), iso(now), actor))


# --- procedures -------------------------------------------------------------------------------

FIELD_LABELS = {
    "code": "Mã thủ tục", "name": "Tên thủ tục", "field": "Lĩnh vực", "limit.value": "Thời hạn",
    "limit.unit": "Đơn vị thời hạn", "same_day_cutoff": "Giờ chốt nhận trong ngày", "fee": "Lệ phí",
    "fee_note": "Ghi chú lệ phí", "documents": "Giấy tờ", "handed_up": "Chuyển cấp trên", "result": "Kết quả",
}
PROBLEMS = [
    ("must not be empty", "không được để trống"),
    ("must not start or end with whitespace", "không được có khoảng trắng ở đầu hoặc cuối"),
    ("must be at least 1", "phải từ 1 trở lên"),
    ("must not be negative", "không được âm"),
    ("must be an integer", "phải là số nguyên"),
    ("must be 0 for a same_day limit", "phải là 0 với thủ tục giải quyết trong ngày"),
    ("must be a 24-hour", "phải có dạng giờ:phút, ví dụ 15:00"),
    ("is only allowed with a same_day limit", "chỉ dùng cho thủ tục giải quyết trong ngày"),
    ("unknown unit", "không hợp lệ"),
    ("unknown kind", "phải là bản chính, bản sao hoặc một trong hai"),
    ("duplicate code", "trùng với một thủ tục khác"),
]


def vietnamese(exc: CatalogueError) -> DraftError:
    """A parser's English message as a sentence for the admin (the English stays as detail)."""
    text = str(exc)
    field = ""
    label = "Dữ liệu"
    if "field '" in text:
        field = text.rsplit("field '", 1)[1].split("'", 1)[0]
        base = field.split("[", 1)[0]
        label = FIELD_LABELS.get(field, FIELD_LABELS.get(base, field))
        if base == "documents" and "." in field:
            label = f"Giấy tờ số {int(field.split('[', 1)[1].split(']', 1)[0]) + 1}"
    problem = next((vi for en, vi in PROBLEMS if en in text), "không hợp lệ")
    return DraftError(f"{label} {problem}.", text, field.split(".")[0].split("[")[0])


def procedure_from_form(form) -> dict:
    """A procedure's JSON object from the editor's fields; types are checked by parse_procedure."""
    def integer(name):
        text = (form.get(name) or "").strip().replace(".", "").replace(",", "")
        try:
            return int(text)
        except ValueError:
            return text  # parse_procedure refuses it with the field's name
    unit = form.get("limit_unit") or ""
    docs = []
    for index in sorted({k.split("_")[-1] for k in form if k.startswith("doc_name_")}, key=lambda s: int(s)
                        if s.isdigit() else 0):
        name = (form.get(f"doc_name_{index}") or "").strip()
        if not name:
            continue
        docs.append({"name": name, "kind": form.get(f"doc_kind_{index}") or "original",
                     "count": integer(f"doc_count_{index}") if (form.get(f"doc_count_{index}") or "").strip() else 1})
    cutoff = (form.get("same_day_cutoff") or "").strip()
    return {
        "code": (form.get("code") or "").strip(),
        "name": " ".join((form.get("name") or "").split()),
        "field": " ".join((form.get("field") or "").split()),
        "limit": {"value": 0 if unit == "same_day" else integer("limit_value"), "unit": unit},
        "same_day_cutoff": (cutoff or None) if unit == "same_day" else None,
        "fee": integer("fee") if (form.get("fee") or "").strip() else 0,
        "fee_note": (form.get("fee_note") or "").strip(),
        "documents": docs,
        "handed_up": form.get("handed_up") in ("1", "on", "true"),
        "result": " ".join((form.get("result") or "").split()),
    }


def save_procedure(conn, raw: dict, *, original_code: str | None, actor: str, now: datetime):
    """Add (original_code None) or replace a procedure in the catalogue draft; returns the Procedure."""
    try:
        procedure = parse_procedure(raw)
    except CatalogueError as exc:
        raise vietnamese(exc) from None
    with write_tx(conn):
        draft = get(conn, "catalogue")
        items = list(draft.body["procedures"])
        codes = [p["code"] for p in items]
        if (original_code is None or original_code != procedure.code) and procedure.code in codes:
            raise DraftError(f"Mã thủ tục {procedure.code} đã có trong danh mục.", field="code")
        if original_code is None:
            items.append(procedure.to_dict())
        else:
            if original_code not in codes:
                raise DraftError(f"Không có thủ tục {original_code} trong bản nháp.")
            items[codes.index(original_code)] = procedure.to_dict()
        _save(conn, "catalogue", draft.base_version, {"procedures": items}, actor, now)
    return procedure


def remove_procedure(conn, code: str, *, actor: str, now: datetime) -> None:
    with write_tx(conn):
        draft = get(conn, "catalogue")
        items = [p for p in draft.body["procedures"] if p["code"] != code]
        if len(items) == len(draft.body["procedures"]):
            raise DraftError(f"Không có thủ tục {code} trong bản nháp.")
        _save(conn, "catalogue", draft.base_version, {"procedures": items}, actor, now)


# --- calendar ---------------------------------------------------------------------------------

CALENDAR_PROBLEMS = [
    ("date must be written YYYY-MM-DD", "Ngày phải có dạng năm-tháng-ngày, ví dụ 2026-09-02."),
    ("no such date", "Ngày không tồn tại."),
    ("duplicate date", "Ngày này đã có trong lịch."),
    ("unknown kind", "Chọn loại ngày: ngày lễ, ngày nghỉ bù hoặc ngày làm bù."),
    ("is a weekday: a 'workday' entry", "Ngày làm bù phải là thứ Bảy hoặc Chủ nhật."),
    ("is a weekend day: a 'substitute'", "Ngày nghỉ bù phải là ngày từ thứ Hai đến thứ Sáu."),
]


def _calendar_error(exc: CalendarError) -> DraftError:
    text = str(exc)
    message = next((vi for en, vi in CALENDAR_PROBLEMS if en in text), "Ngày trong lịch không hợp lệ.")
    return DraftError(message, text)


def _checked_entries(entries: list[dict]) -> list[dict]:
    try:
        parsed = parse_entries(entries)
    except CalendarError as exc:
        raise _calendar_error(exc) from None
    return [{"date": e.day.isoformat(), "kind": e.kind, "name": e.name} for e in parsed]


def add_calendar_entry(conn, entry: dict, *, actor: str, now: datetime) -> None:
    entry = {"date": (entry.get("date") or "").strip(), "kind": entry.get("kind") or "",
             "name": " ".join((entry.get("name") or "").split())}
    with write_tx(conn):
        draft = get(conn, "calendar")
        entries = _checked_entries(list(draft.body["entries"]) + [entry])
        _save(conn, "calendar", draft.base_version, {"entries": entries}, actor, now)


def remove_calendar_entry(conn, day: str, *, actor: str, now: datetime) -> None:
    with write_tx(conn):
        draft = get(conn, "calendar")
        entries = [e for e in draft.body["entries"] if e["date"] != day]
        if len(entries) == len(draft.body["entries"]):
            raise DraftError(f"Không có ngày {day} trong bản nháp.")
        _save(conn, "calendar", draft.base_version, {"entries": entries}, actor, now)


# --- comparing and publishing -------------------------------------------------------------------

def changes(conn, kind: str) -> dict:
    """What publishing the draft would change: added / changed / removed keys (codes or dates)."""
    draft = get(conn, kind)
    _version, current = published(conn, kind)
    if kind == "catalogue":
        old = {p["code"]: p for p in current["procedures"]}
        new = {p["code"]: p for p in draft.body["procedures"]}
    else:
        old = {e["date"]: e for e in current["entries"]}
        new = {e["date"]: e for e in draft.body["entries"]}
    return {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
            "changed": sorted(k for k in set(new) & set(old) if new[k] != old[k])}


def discard(conn, kind: str) -> None:
    _check_kind(kind)
    with write_tx(conn):
        conn.execute("DELETE FROM drafts WHERE kind = ?", (kind,))


def _validated(kind: str, version: int, body: dict) -> dict:
    if kind == "catalogue":
        try:
            parse_catalogue({"version": version, "procedures": body.get("procedures")})
        except CatalogueError as exc:
            raise vietnamese(exc) from None
        return {"procedures": body["procedures"]}
    return {"entries": _checked_entries(body.get("entries"))}


def publish_body(conn, kind: str, body: dict, *, actor: str, now: datetime,
                 drop_draft: bool = False) -> tuple[int, int]:
    """Publish ``body`` as version latest + 1 to every active node; returns (version, nodes reached).

    The caller holds no transaction. A draft of that kind is kept (it then shows as based on an
    older version) unless ``drop_draft``: publishing the draft itself.
    """
    _check_kind(kind)
    with write_tx(conn):
        version = published(conn, kind)[0] + 1
        body = _validated(kind, version, body)
        reached = feed.publish(conn, kind, version, body, now=now, actor=actor)
        if drop_draft:
            conn.execute("DELETE FROM drafts WHERE kind = ?", (kind,))
    return version, reached


def publish(conn, kind: str, *, actor: str, now: datetime) -> tuple[int, int]:
    """Publish the draft; refuses when there is no draft or it changes nothing."""
    draft = get(conn, kind)
    if not draft.saved or not any(changes(conn, kind).values()):
        raise DraftError("Bản nháp không có thay đổi nào so với phiên bản đã xuất bản.",
                         f"there is no {kind} draft with changes to publish (edit it at /xuat-ban or pass --file)")
    return publish_body(conn, kind, draft.body, actor=actor, now=now, drop_draft=True)


def load_file(kind: str, path: Path) -> dict:
    """A body to publish from a JSON file: a whole catalogue/calendar document or just its list."""
    _check_kind(kind)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DraftError(f"Không đọc được tệp {path}.", str(exc)) from None
    key = "procedures" if kind == "catalogue" else "entries"
    if isinstance(raw, list):
        return {key: raw}
    if isinstance(raw, dict) and isinstance(raw.get(key), list):
        return {key: raw[key]}
    raise DraftError(f"Tệp {path} không có danh sách “{key}”.", f"{path}: expected a list or an object with {key!r}")
