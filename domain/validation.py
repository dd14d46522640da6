"""One check of a dossier event against the current state, for node and central alike.

The node calls ``check_event`` before it appends an event (so it never writes one central
would refuse); central calls it before it materialises a pushed event (so whatever a node
sends, however well signed, only becomes a row if it obeys the same rules). It returns the
new state, or raises ``EventInvalid`` (English message: it goes to logs and to central's
anomaly list, never to a citizen).

What is checked (docs/SECURITY.md, part 1 lists it for operators):
- the event's canonical size is within ``max_bytes`` (checked first: nothing else runs on
  an oversized event);
- the reducer accepts it (``domain.dossier.apply_event``: legal transition from the current
  status, known fields only, a creating event only for a new dossier);
- the resulting state: code well formed and equal to the event's ``dossier`` (a row is keyed
  by the event, never by a code inside ``data``), agency equal to the code's agency, status
  1-10 reached by a legal transition (or unchanged), every time ISO-parseable, rating 1-5,
  the applicant valid as the desk's form requires, every text within the desk's limits.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .citizen import MAX_ADDRESS, MAX_NAME, applicant_errors
from .codes import parse_code
from .dossier import CREATING_TYPES, ReplayError, apply_event
from .statuses import Status, TransitionError, check_transition

MAX_EVENT_BYTES = 64 * 1024
# Any text the desk lets a person type is at most 1000 characters (workflow.MAX_NOTE); a
# catalogue's procedure names are far shorter. Nothing legitimate in a state is longer.
MAX_TEXT = 2000
SHORT_TEXT = {"handler": 100, "received_by": 100, "procedure_code": 50, "field": 200, "procedure_name": 500}
TIME_FIELDS = ("received_at", "due_at", "original_due_at", "paused_at", "resolved_at", "returned_at",
               "created_at", "updated_at")
MAX_DEPTH = 6
MAX_ITEMS = 500


_ABSENT = object()


class EventInvalid(ValueError):
    """An event that must not change a dossier (English, for logs and anomalies)."""


def _short(value) -> str:
    """A value for a message: its repr, cut short (a message never carries a long value)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _time_ok(value) -> bool:
    if value is None:
        return True
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _walk(value, path: str, depth: int = 0):
    """Yield (path, problem) for over-long strings, over-deep or over-long containers."""
    if depth > MAX_DEPTH:
        yield path, "is nested too deeply"
        return
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            yield path, f"is {len(value)} characters long (limit {MAX_TEXT})"
    elif isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            yield path, f"has {len(value)} keys (limit {MAX_ITEMS})"
            return
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_ITEMS:
            yield path, f"has {len(value)} items (limit {MAX_ITEMS})"
            return
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", depth + 1)


def _fits(value, depth: int = 0) -> bool:
    """True when ``_walk`` would find nothing (the common case, without building any path).

    Scalars inside a container are checked in the loop, not by a call each (central runs this on
    every pushed event); a value deeper than ``MAX_DEPTH``, even a scalar, does not fit."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    children: Iterable
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return True
    if len(value) > MAX_ITEMS:
        return False
    if value and depth >= MAX_DEPTH:  # its items would be deeper than MAX_DEPTH
        return False
    for item in children:
        kind = type(item)
        if kind is str:
            if len(item) > MAX_TEXT:
                return False
        elif item is None or kind is int or kind is bool:
            continue
        elif not _fits(item, depth + 1):
            return False
    return True


STATUS_VALUES = frozenset(int(s) for s in Status)
EVERY_CHECKED = frozenset(("code", "agency", "status", "rating", "supplement_count", "holder", "applicant",
                           "documents", "supplements", "extensions", "handoffs", *TIME_FIELDS, *SHORT_TEXT))


def check_state(state: dict, fields: set[str] | None = None) -> list[str]:
    """Every problem of a dossier state (empty list = valid); ``fields`` limits the check to the
    fields an event changed (the rest were checked when they were set)."""
    subject = state if fields is None else {k: state[k] for k in fields if k in state}
    problems = [] if _fits(subject) else [f"{path} {problem}" for path, problem in _walk(subject, "dossier")]
    if problems:
        return problems  # do not look further into an oversized value
    names = EVERY_CHECKED if fields is None else fields
    if "code" in names or "agency" in names:
        code = state.get("code")
        parsed = parse_code(code) if isinstance(code, str) else None
        if parsed is None or parsed[0] != state.get("agency"):
            problems.append(f"code {_short(code)} is not a dossier code of agency {_short(state.get('agency'))}")
    status = state.get("status")
    if "status" in names and (isinstance(status, bool) or not isinstance(status, int)
                              or status not in STATUS_VALUES):
        problems.append(f"status {_short(status)} is not one of 1-10")
    for name in TIME_FIELDS:
        if name in names and not _time_ok(state.get(name)):
            problems.append(f"{name} {_short(state.get(name))} is not a time")
    rating = state.get("rating")
    if "rating" in names and rating is not None and (
            isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
        problems.append(f"rating {_short(rating)} is not 1-5")
    count = state.get("supplement_count")
    if "supplement_count" in names and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        problems.append(f"supplement_count {_short(count)} is not a count")
    if "holder" in names and state.get("holder") not in ("node", "central"):
        problems.append(f"holder {_short(state.get('holder'))} is not node or central")
    for name, limit in SHORT_TEXT.items():
        if name in names:
            value = state.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                problems.append(f"{name} is not a text of at most {limit} characters")
    if "applicant" in names:
        applicant = state.get("applicant")
        if not isinstance(applicant, dict):
            problems.append("applicant is missing")
        else:
            errors = applicant_errors(applicant)
            problems.extend(f"applicant.{e.field} is invalid" for e in errors)  # values stay out of messages
            for name, limit in (("name", MAX_NAME), ("address", MAX_ADDRESS)):
                if isinstance(applicant.get(name), str) and len(applicant[name]) > limit:
                    problems.append(f"applicant.{name} is over {limit} characters")
    if "documents" in names and not isinstance(state.get("documents"), list):
        problems.append("documents is not a list")
    for name in ("supplements", "extensions", "handoffs"):
        if name in names and not isinstance(state.get(name), list):
            problems.append(f"{name} is not a list")
    return problems


def check_event(state: dict | None, event: dict, *, size: int | None = None,
                max_bytes: int = MAX_EVENT_BYTES, owned: bool = False) -> dict:
    """The state after ``event`` if it obeys the desk's rules; raises EventInvalid otherwise.

    ``size`` is the event's canonical size in bytes when the caller already knows it; ``owned`` is
    apply_event's (the caller hands the event over, so the state may share its values).
    """
    code = event.get("dossier")
    if size is not None and size > max_bytes:
        raise EventInvalid(f"{code}: event of {size} bytes is over the {max_bytes}-byte cap")
    if not _time_ok(event.get("at")) or event.get("at") is None:
        raise EventInvalid(f"{code}: event time {_short(event.get('at'))} is not a time")
    if not isinstance(event.get("data"), dict):
        raise EventInvalid(f"{code}: event data is not an object")
    if event["type"] in CREATING_TYPES and not isinstance(event["data"].get("dossier"), dict):
        raise EventInvalid(f"{code}: {event['type']} carries no dossier")
    try:
        new = apply_event(state, event, owned=owned)
    except ReplayError as exc:
        raise EventInvalid(str(exc)) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise EventInvalid(f"{code}: {event['type']} is malformed ({type(exc).__name__})") from None
    if new.get("code") != code:
        raise EventInvalid(f"{code}: event carries the dossier {_short(new.get('code'))}, not its own")
    # the reducer shares untouched values with the old state: check only what this event changed
    changed = None if state is None else {k for k, v in new.items() if v is not state.get(k, _ABSENT)}
    problems = check_state(new, changed)
    if state is not None and not problems and new["status"] != state["status"]:
        try:
            check_transition(state["status"], new["status"])
        except TransitionError:
            problems.append(f"illegal transition {state['status']} -> {new['status']}")
    if state is None and not problems and new["status"] not in (Status.REGISTERED_ONLINE, Status.RECEIVED):
        problems.append(f"a new dossier starts at status 1 or 2, not {new['status']}")
    if problems:
        raise EventInvalid(f"{code}: {event['type']}: " + "; ".join(problems[:5]))
    return new
