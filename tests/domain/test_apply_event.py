"""domain.dossier.apply_event: the state it returns never shares values with the event unless the caller
hands the event over (``owned``, central's ingest), and either way neither the event nor the state
before it is changed, so the two give equal states."""
from __future__ import annotations

import copy
from datetime import datetime

import pytest

from domain import digitisation, workflow
from domain.calendar import WorkCalendar, load_default_calendar
from domain.catalogue import load_sample_catalogue
from domain.codes import format_code
from domain.dossier import STATE_FIELDS, ReplayError, apply_event
from domain.validation import check_event
from protocol.events import make_event

AGENCY = "000.00.06.H56"
NOW = datetime(2026, 1, 5, 9, 0)
APPLICANT = {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
             "address": "Thôn Đông, xã Hòa Bình", "email": ""}
CALENDAR = WorkCalendar(load_default_calendar()[1], version=1)
PROCEDURE = next(p for p in load_sample_catalogue()[1] if p.limit_unit != "same_day")
CODE = format_code(AGENCY, NOW.date(), 1)
HASH = "ab" * 32


def event(seq: int, change) -> dict:
    return make_event(node=AGENCY, seq=seq, prev="0" * 64, at=workflow.iso(NOW), actor="lan", type=change.type,
                      dossier=CODE, data=change.data)


def history() -> list[dict]:
    """A dossier's events of every kind apply_event treats differently: creating, status changes with
    values set, document metadata (attachment, digitisation mark, result record)."""
    events, state = [], None

    def add(change):
        nonlocal state
        events.append(event(len(events) + 1, change))
        state = apply_event(state, events[-1])

    add(workflow.receive(procedure=PROCEDURE, applicant=APPLICANT,
                         documents=[{"name": "Tờ khai", "kind": "original", "count": 1}], channel="in_person",
                         return_method="desk", code=CODE, agency=AGENCY, now=NOW, calendar=CALENDAR,
                         catalogue_version=1, actor="lan", register_no=1))
    add(workflow.start_processing(state, {"handler": "Trần Văn Hùng"}, NOW, CALENDAR, None))
    add(workflow.request_supplement(state, {"items": "Bản sao", "reason": "Thiếu"}, NOW, CALENDAR, None))
    add(workflow.ACTIONS["supplement_received"][0](state, {}, NOW, CALENDAR, None))
    data = digitisation.add(state, {"hash": HASH, "size": 10, "mime": "image/jpeg", "pages": 1}, component=0,
                            source="file", at=workflow.iso(NOW), by="lan", attachment_id="a1")
    events.append(make_event(node=AGENCY, seq=len(events) + 1, prev="0" * 64, at=workflow.iso(NOW), actor="lan",
                             type="attachment.added", dossier=CODE, data=data))
    state = apply_event(state, events[-1])
    return events


def fold(events: list[dict], **options) -> list[dict]:
    states, state = [], None
    for e in events:
        state = apply_event(state, e, **options)
        states.append(state)
    return states


def test_an_owned_event_gives_the_same_states_and_neither_it_nor_the_state_before_it_is_changed():
    events = history()
    before = copy.deepcopy(events)
    copied = fold(events)
    snapshots = copy.deepcopy(copied)
    owned = fold(events, owned=True)
    assert owned == copied
    assert events == before  # the events are as they were
    assert copied == snapshots  # and so is every state the copying fold made from them
    for state, e in zip(owned, events, strict=True):
        assert state is not e["data"].get("dossier")  # a created state is a dict of its own (it gets times)


def test_without_owned_a_later_change_to_the_event_does_not_reach_the_state_and_with_it_the_state_shares():
    events = history()
    created = events[0]
    state = apply_event(None, created)
    shared = apply_event(None, created, owned=True)
    created["data"]["dossier"]["applicant"]["name"] = "Đã sửa sau"
    assert state["applicant"]["name"] == "Nguyễn Văn Dũng"
    assert shared["applicant"]["name"] == "Đã sửa sau"  # what owned allows: the caller never does this


def test_check_event_passes_owned_through_and_checks_the_same():
    events = history()
    state_copied = state_owned = None
    for e in events:
        state_copied = check_event(state_copied, e)
        state_owned = check_event(state_owned, e, owned=True)
        assert state_owned == state_copied


def test_a_creating_event_whose_dossier_is_not_an_object_is_refused_the_same_with_and_without_owned():
    pairs = [[field, 1] for field in STATE_FIELDS]  # dict() would make an object of these: owned must not
    for dossier in (pairs, "text", None):
        created = dict(history()[0], data={"dossier": dossier})
        messages = []
        for owned in (False, True):
            with pytest.raises((ReplayError, TypeError)) as caught:
                apply_event(None, created, owned=owned)
            messages.append((type(caught.value), str(caught.value)))
        assert messages[0] == messages[1]
