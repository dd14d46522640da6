"""Form 06 (Phiếu kiểm soát quá trình giải quyết hồ sơ): one row per hand-over, from a dossier's events.

A pure function of the dossier's state, its events in order, and names: the desk, the agency and the
upper level are named (never "Cấp trên"), and staff by their full names (never a login).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .workflow import RETURN_METHODS

DESK = "Bộ phận Một cửa"
LEGACY_UPPER = "Cấp trên"  # what hand_up recorded before it asked for the receiving agency


@dataclass(frozen=True)
class Names:
    agency_code: str
    agency_name: str
    parent_name: str
    staff: Mapping[str, str]  # username -> full name

    def person(self, value: str | None) -> str:
        """A login becomes its full name; free text (a name typed by a clerk) stays; unknown logins print blank."""
        if not value:
            return ""
        return self.staff.get(value, value if " " in value.strip() else "")

    def unit(self, value: str | None) -> str:
        if not value or value == self.agency_code:
            return self.agency_name
        if value == LEGACY_UPPER:
            return self.parent_name or value
        return value


def _row(frm, to, at, giver, receiver, result, note) -> dict:
    return {"from": frm, "to": to, "at": at, "giver": giver, "receiver": receiver, "result": result, "note": note}


def _processing(rows, ctx, event, data, changes):
    ctx["handler"] = changes.get("handler") or ctx["handler"] or ctx["state"].get("handler") or ""
    ctx["started"] = True
    handler = ctx["names"].person(ctx["handler"]) or ctx["handler"]
    rows.append(_row(DESK, handler or "Cán bộ xử lý", event["at"], ctx["names"].person(event["actor"]), handler,
                     None, data.get("note") or "Chuyển hồ sơ để giải quyết"))


def _assigned(rows, ctx, event, data, changes):
    new, old = changes.get("handler"), ctx["handler"]
    names = ctx["names"]
    if ctx["started"] and new and new != old:
        rows.append(_row(names.person(old) or old or DESK, names.person(new) or new, event["at"],
                         names.person(old) or old or names.person(event["actor"]), names.person(new) or new, None,
                         data.get("note") or "Phân công lại người xử lý"))
    ctx["handler"] = new or old


def _handoff_row(ctx, changes):
    handoffs = ctx["state"].get("handoffs") or []
    i = ctx["handoff"]
    return handoffs[i] if i < len(handoffs) else (changes.get("handoffs") or [{}])[-1]


def _handed_off(rows, ctx, event, data, changes, default_note="Chuyển liên thông"):
    row = _handoff_row(ctx, changes)
    names = ctx["names"]
    rows.append(_row(names.unit(row.get("from_unit")), names.unit(row.get("to_unit")),
                     row.get("sent_at") or event["at"],
                     names.person(row.get("giver")) or names.person(event["actor"]), row.get("receiver") or "", None,
                     row.get("note") or default_note))


def _handed_up(rows, ctx, event, data, changes):
    _handed_off(rows, ctx, event, data, changes, default_note="Chuyển lên cấp trên giải quyết")


def _handed_back(rows, ctx, event, data, changes):
    handoffs = ctx["state"].get("handoffs") or []
    i = ctx["handoff"]
    row = handoffs[i] if i < len(handoffs) else {}
    ctx["handoff"] += 1
    names = ctx["names"]
    giver = names.unit(row.get("to_unit")) if row.get("upper") else (row.get("receiver") or "")
    rows.append(_row(names.unit(row.get("to_unit")), names.unit(row.get("from_unit")),
                     row.get("returned_at") or event["at"], giver,
                     names.person(event["actor"]), row.get("result_class"),
                     row.get("return_note") or "Nhận lại kết quả liên thông"))


def _resolved(rows, ctx, event, data, changes):
    names = ctx["names"]
    handler = names.person(ctx["handler"]) or ctx["handler"] or ""
    note = changes.get("result_note") or "Đã giải quyết xong"
    if changes.get("refusal"):
        note = "Từ chối giải quyết: " + changes["refusal"].get("reasons", "")
    rows.append(_row(handler or "Cán bộ xử lý", DESK, event["at"], handler, names.person(event["actor"]),
                     changes.get("result_class"), note))


def _returned(rows, ctx, event, data, changes):
    state, names = ctx["state"], ctx["names"]
    method = changes.get("return_method") or state.get("return_method")
    collector = (changes.get("collected_by") or {}).get("name") or state["applicant"]["name"]
    rows.append(_row(DESK, collector, event["at"], names.person(event["actor"]), collector, None,
                     "Trả kết quả " + RETURN_METHODS.get(method, "").lower()))


HANDLERS = {
    "dossier.processing": _processing, "dossier.assigned": _assigned, "dossier.handed_off": _handed_off,
    "dossier.handed_up": _handed_up, "dossier.handed_back": _handed_back, "dossier.resolved": _resolved,
    "dossier.returned": _returned,
}


def control_rows(state: dict, events: list[dict], names: Names) -> list[dict]:
    """Form 06 rows: desk -> handler, each hand-off out and back (including up), resolution, return."""
    rows: list[dict] = []
    ctx = {"state": state, "names": names, "handler": None, "started": False, "handoff": 0}
    for event in events:
        handler = HANDLERS.get(event["type"])
        if handler is not None:
            data = event.get("data") or {}
            handler(rows, ctx, event, data, data.get("set") or {})
    return rows
