"""Central's fold of a pushed batch into dossier rows (central.ingest.fold) gives exactly the rows and
anomalies of projecting the state after every event, as it did before it projected once per dossier
and applicant; and the status table's fast check accepts and refuses exactly what Status does."""
from __future__ import annotations

import copy
import json
from datetime import datetime

import pytest

from central import ingest
from domain import workflow
from domain.dossier import project
from domain.statuses import Status, TransitionError, check_transition
from domain.validation import EventInvalid, check_event
from tests.central.conftest import AGENCY, FakeNode

NOW = datetime(2026, 1, 5, 10, 0)


def per_event_fold(node_id, events, snapshot, now, sizes=None, max_event=ingest.MAX_EVENT_BYTES):
    """The fold as it was: project() of the new state after every event, states holding copies of the
    events' values, documents written by json (the reference)."""
    states = {code: json.loads(doc) for code, (_, doc) in snapshot.items()}
    owners = {code: owner for code, (owner, _) in snapshot.items()}
    projected, anomalies = {}, []
    for i, event in enumerate(events):
        code = event["dossier"]
        if not code or not ingest._folds(event["type"]):
            continue
        size = sizes[i] if sizes else None
        try:
            if not isinstance(code, str) or len(code) > 64:
                code = str(code)[:64]
                raise ingest.Anomaly(f"{code!r} is not a dossier code; event ignored")
            if size is not None and size > max_event:
                raise ingest.Anomaly(f"{code}: event {event['seq']} of {size} bytes is over the {max_event}-byte "
                                     "cap; stored, not materialised")
            state = states.get(code)
            if code in owners and owners[code] != node_id:
                raise ingest.Anomaly(f"{code}: dossier belongs to node {owners[code]}; event ignored")
            if state is None:
                ingest._may_create(None, node_id, code, event)
            elif state.get("holder") == "central":
                ingest._may_change_held(None, node_id, code, state, event)
            new_state = check_event(state, event, size=size, max_bytes=max_event)
            row = project(new_state)
        except (ingest.Anomaly, EventInvalid) as exc:
            anomalies.append((node_id, event["seq"], code if isinstance(code, str) else None, str(exc),
                              ingest.iso(now)))
            continue
        except Exception as exc:  # noqa: BLE001
            anomalies.append((node_id, event["seq"], code, f"{code}: {type(exc).__name__}: {exc}"[:500],
                              ingest.iso(now)))
            continue
        states[code] = new_state
        owners[code] = node_id
        projected[code] = row
    rows = [tuple(row[c] for c in ingest.PROJECTED) + (node_id, json.dumps(states[code], ensure_ascii=False,
                                                                         separators=(",", ":")))
            for code, row in projected.items()]
    return rows, anomalies


def set_event(node: FakeNode, code: str, changes: dict) -> dict:
    """A non-creating event that only replaces fields (what dossier.corrected and others carry)."""
    return node.append("dossier.corrected", code, {"from": None, "to": None, "note": "", "set": changes})


@pytest.fixture
def history(clock):
    """A node's events over several dossiers: ordinary work, applicant corrections (valid, invalid,
    not a dict), illegal transitions, oversized text, and a dossier central already holds a row of."""
    node = FakeNode(clock)
    codes = [node.receive() for _ in range(4)]
    a, b, c, d = codes
    for code in codes:
        node.act(code, workflow.ACTIONS["start"][0], {"handler": "Trần Văn Hùng"})
    node.act(a, workflow.ACTIONS["supplement"][0], {"items": "Bản sao", "reason": "Thiếu"})
    node.act(a, workflow.ACTIONS["supplement_received"][0])
    set_event(node, a, {"applicant": dict(node.states[a]["applicant"], name="Lê Thị Hoa")})
    node.act(a, workflow.ACTIONS["resolve"][0])
    set_event(node, b, {"applicant": dict(node.states[b]["applicant"], id_number="12")})  # invalid: anomaly
    set_event(node, b, {"applicant": "Nguyễn Văn A"})  # not an object: anomaly
    set_event(node, b, {"handler": "x" * 500})  # over the limit: anomaly
    node.append("dossier.resolved", c, {"from": 2, "to": 9, "note": "", "set": {}})  # wrong from: anomaly
    set_event(node, c, {"applicant": dict(node.states[c]["applicant"], name="Phạm  Quốc   Bảo")})
    set_event(node, c, {"rating": 5})
    node.act(d, workflow.ACTIONS["resolve"][0])
    node.act(d, workflow.ACTIONS["return"][0], {"rating": "4"})
    node.append("dossier.processing", "not-a-code", {"from": 2, "to": 4, "note": ""})
    node.append("dossier.processing", f"{AGENCY}-260105-0099", {"from": 2, "to": 4, "note": ""})  # unknown
    return node


def test_the_fold_gives_the_rows_and_anomalies_of_a_projection_after_every_event(history):
    events = history.events
    sizes = [len(json.dumps(e)) for e in events]
    expected = per_event_fold(AGENCY, events, {}, NOW, sizes=sizes)
    assert expected[0] and expected[1]  # the history makes rows and anomalies both
    before = copy.deepcopy(events)
    assert ingest.fold(None, AGENCY, events, {}, NOW, sizes=sizes) == expected
    assert events == before  # the fold owns the events (its states share their values) and changes none
    for cut in (1, 5, 9, 13, 17):  # a batch that starts from rows stored by the batches before it
        rows, _ = per_event_fold(AGENCY, events[:cut], {}, NOW)
        snapshot = {row[0]: (row[-2], row[-1]) for row in rows}
        assert ingest.fold(None, AGENCY, events[cut:], snapshot, NOW) == \
            per_event_fold(AGENCY, events[cut:], snapshot, NOW)


def test_a_stored_state_whose_row_cannot_be_projected_makes_the_same_anomalies_as_before(history):
    from domain.dossier import apply_event
    first = history.events[0]
    broken = {k: v for k, v in apply_event(None, first).items() if k != "applicant"}
    snapshot = {first["dossier"]: (AGENCY, json.dumps(broken, ensure_ascii=False))}
    later = [e for e in history.events if e["dossier"] == first["dossier"] and e is not first]
    expected = per_event_fold(AGENCY, later, snapshot, NOW)
    assert any("KeyError" in a[3] for a in expected[1])  # no row until an event brings an applicant
    assert expected[0]
    assert ingest.fold(None, AGENCY, later, snapshot, NOW) == expected


def test_every_projected_column_but_the_applicants_is_the_state_field_of_the_same_name(history):
    for state in history.states.values():
        row = project(state)
        for column, own in ingest._SOURCES:
            if own:
                assert row[column] is state[column]
        assert not ingest.APPLICANT_COLUMNS & set(state)


VALUES = [*range(0, 12), True, False, 4.0, 9.0, "4", None, Status.PROCESSING, Status.RESOLVED, [4], (4,)]


def test_check_transition_accepts_and_refuses_exactly_the_pairs_the_status_table_allows():
    from domain.statuses import TRANSITIONS

    def reference(current, target):
        try:
            cur, tgt = Status(current), Status(target)
        except ValueError:
            return "invalid"
        return "ok" if tgt in TRANSITIONS[cur] else "illegal"

    for current in VALUES:
        for target in VALUES:
            try:
                check_transition(current, target)
                outcome = "ok"
            except TransitionError as exc:
                outcome = "invalid" if exc.message.startswith("Mã trạng thái") else "illegal"
            assert outcome == reference(current, target), (current, target)
