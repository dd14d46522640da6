"""A dossier's state is the fold of its events: one pure reducer for node and central.

Every event that changes a dossier carries everything the reducer needs (new due
times are computed when the event is made, not when it is replayed), so central
rebuilds exactly the rows the node has without knowing the node's calendar.

Event data shapes:
- ``dossier.received`` / ``dossier.registered``: ``{"dossier": <full initial state>}``
- any other ``dossier.*``: ``{"from": int|None, "to": int|None, "note": str, "set": {...}}``
  ``from``/``to`` are present when the status changes; ``set`` replaces fields.
"""
from __future__ import annotations

from . import digitisation
from .statuses import TransitionError, check_transition
from .text import fold

CREATING_TYPES = ("dossier.received", "dossier.registered")

# Fields of the state that a ``set`` may replace; anything else is refused so a
# typo cannot silently create a new field on every replica.
MUTABLE_FIELDS = frozenset({
    "status", "handler", "holder", "received_at", "due_at", "paused_at", "supplement_count",
    "supplements", "fee_request", "extensions", "handoffs", "refusal", "withdrawal", "stop",
    "resolved_at", "result_class", "result_note", "returned_at", "return_method", "rating",
    "calendar_version", "register_no",
    # dossier.corrected (issue 12.3): what an intake correction may replace; the code never changes
    "applicant", "documents", "representative", "procedure_code", "procedure_name", "field",
    "limit_value", "limit_unit", "same_day_cutoff", "original_due_at", "fee", "corrections",
    # who collected the result (issue 12.7), set by dossier.returned
    "collected_by",
})

STATE_FIELDS = (
    "code", "agency", "procedure_code", "procedure_name", "field", "channel",
    "applicant", "documents", "return_method", "received_at", "due_at", "original_due_at",
    "limit_value", "limit_unit", "same_day_cutoff", "calendar_version", "catalogue_version",
    "status", "handler", "holder", "paused_at", "supplement_count", "supplements",
    "fee", "fee_request", "extensions", "handoffs", "refusal", "withdrawal", "stop",
    "resolved_at", "result_class", "result_note", "returned_at", "rating", "register_no",
    "received_by", "created_at", "updated_at",
)


def _json_copy(value):
    """A deep copy of a JSON value (dict, list, str, int, bool, None): what copy.deepcopy gives,
    several times faster (no memo; central folds tens of thousands of events a second)."""
    if isinstance(value, dict):
        return {k: _json_copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


class ReplayError(ValueError):
    """An event that cannot apply to the current state (message in English, for logs/anomalies)."""


def apply_event(state: dict | None, event: dict, *, owned: bool = False) -> dict:
    """Return the new state after ``event``; neither ``state`` nor ``event`` is modified.

    The new state holds copies of the event's values, so a later change to the event cannot leak into
    it; ``owned`` says the caller hands the event over (it is parsed for this fold and neither kept
    nor changed afterwards: central's ingest), so the state may share its values instead."""
    etype, data = event["type"], event["data"]
    if etype in CREATING_TYPES:
        if state is not None:
            raise ReplayError(f"{event['dossier']}: {etype} for a dossier that already exists")
        source = data["dossier"]
        # owned: only the top level is copied (it gets created_at and updated_at); anything but an object
        # goes the copying way and is refused below, as without owned
        new = dict(source) if owned and isinstance(source, dict) else _json_copy(source)
        missing = [f for f in STATE_FIELDS if f not in new]
        if missing:
            raise ReplayError(f"{event['dossier']}: {etype} lacks {', '.join(missing)}")
        new["created_at"] = new.get("created_at") or event["at"]
        new["updated_at"] = event["at"]
        return new
    if state is None:
        raise ReplayError(f"{event['dossier']}: {etype} for an unknown dossier")
    if etype in digitisation.ATTACHMENT_TYPES:  # documents: metadata only (domain/digitisation.py)
        try:
            return digitisation.apply(state, etype, data if owned else _json_copy(data), event["at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"{event['dossier']}: bad {etype}: {exc}") from exc
    # Fields are only ever replaced whole (workflow builds new lists and dicts), never changed in
    # place, so the new state may share untouched values with the old one; only the event's own
    # values are copied, so a later change to the event cannot leak into the state.
    new = dict(state)
    target = data.get("to")
    if target is not None:
        if data.get("from") != state["status"]:
            raise ReplayError(
                f"{event['dossier']}: {etype} expects status {data.get('from')}, dossier is {state['status']}")
        try:
            check_transition(state["status"], target)
        except TransitionError as exc:
            raise ReplayError(f"{event['dossier']}: illegal transition {state['status']} -> {target}") from exc
        new["status"] = target
    changes = data.get("set") or {}
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        raise ReplayError(f"{event['dossier']}: {etype} sets unknown fields {sorted(unknown)}")
    new.update(changes if owned else _json_copy(changes))
    new["updated_at"] = event["at"]
    return new


def project(state: dict) -> dict:
    """The indexed columns a dossier row carries besides its full JSON document."""
    applicant = state["applicant"]
    return {
        "code": state["code"],
        "agency": state["agency"],
        "procedure_code": state["procedure_code"],
        "procedure_name": state["procedure_name"],
        "field": state["field"],
        "channel": state["channel"],
        "status": state["status"],
        "handler": state["handler"],
        "holder": state["holder"],
        "received_at": state["received_at"],
        "due_at": state["due_at"],
        "resolved_at": state["resolved_at"],
        "returned_at": state["returned_at"],
        "result_class": state["result_class"],
        "rating": state["rating"],
        "supplement_count": state["supplement_count"],
        "applicant_name": applicant["name"],
        "name_folded": fold(applicant["name"]),
        "id_number": applicant["id_number"],
        "phone": applicant["phone"],
        "updated_at": state["updated_at"],
    }
