"""Wire format v2: what it leaves out, and that central gets back the identical full events."""
from __future__ import annotations

import gzip
import random
from datetime import datetime, timedelta

import pytest

from domain import workflow
from domain.calendar import WorkCalendar, load_default_calendar
from domain.catalogue import load_sample_catalogue
from domain.dossier import apply_event
from protocol import wire2
from protocol.canonical import canonical_json
from protocol.envelope import EnvelopeError
from protocol.events import GENESIS, event_hash, make_event, verify_chain

NODE = "000.00.06.H56"
APPLICANT = {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
             "address": "Thôn Đông, xã Hòa Bình", "email": ""}


def chain(dossiers: int = 20, derived: bool = True, seed: int = 7) -> list[dict]:
    """A node's real log: intake and the workflow actions, built with the domain functions."""
    rng = random.Random(seed)
    _, procedures = load_sample_catalogue()
    version, entries = load_default_calendar()
    calendar = WorkCalendar(entries, version=version)
    out, prev = [], GENESIS

    def append(type_, code, data, at):
        nonlocal prev
        seq = len(out) + 1
        event = make_event(node=NODE, seq=seq, prev=prev, at=workflow.iso(at), actor="lan", type=type_,
                           dossier=code, data=data, id=wire2.derived_id(NODE, seq) if derived else None)
        out.append(event)
        prev = event_hash(event)
        return event

    start = datetime(2026, 11, 2, 8, 0)
    for i in range(dossiers):
        procedure = rng.choice(procedures)
        now = start + timedelta(minutes=17 * i)
        code = f"{NODE}-261102-{i + 1:04d}"
        change = workflow.receive(procedure=procedure, applicant=dict(APPLICANT, phone=f"09{rng.randrange(10**8):08d}"),
                                  documents=[{"name": d.name, "kind": "original", "count": 1}
                                             for d in procedure.documents[:2]],
                                  channel="in_person", return_method="desk", code=code, agency=NODE, now=now,
                                  calendar=calendar, catalogue_version=1, actor="lan", register_no=i + 1)
        state = apply_event(None, append(change.type, code, change.data, now))
        for action, params in (("start", {"handler": "Lê Thị Mai"}), ("resolve", {}), ("return", {"rating": "5"})):
            now += timedelta(hours=2)
            change = workflow.ACTIONS[action][0](state, params, now, calendar, procedure)
            state = apply_event(state, append(change.type, code, change.data, now))
    return out


def test_an_intake_travels_without_node_prev_id_or_any_default_field():
    events = chain(3)
    encoded = wire2.encode_events(events, NODE)
    intake = encoded[4]  # the second dossier's intake: not the first event of the batch
    assert events[4]["type"] == "dossier.received"
    assert not {"node", "seq", "prev", "id"} & set(intake)
    dossier = intake["data"]["dossier"]
    for left_out in ("code", "agency", "handler", "holder", "supplements", "refusal", "rating", "created_at",
                     "updated_at", "received_at", "received_by", "original_due_at", "status"):
        assert left_out not in dossier
    assert "email" not in dossier["applicant"]
    assert {"prev", "seq"} <= set(encoded[0])  # the first event says where the batch links on


def test_central_rebuilds_the_identical_events_and_hashes_from_the_v2_form():
    events = chain(15)
    rebuilt, raws = wire2.decode_events(wire2.encode_events(events, NODE), NODE)
    assert rebuilt == events
    assert raws == [canonical_json(e) for e in events]
    verify_chain(rebuilt, node=NODE)


def test_older_events_with_random_ids_keep_their_id_on_the_wire():
    events = chain(2, derived=False)
    encoded = wire2.encode_events(events, NODE)
    assert all(item["id"] == event["id"] for item, event in zip(encoded, events))
    assert wire2.decode_events(encoded, NODE)[0] == events


def test_an_event_the_templates_cannot_describe_travels_whole():
    events = chain(1)
    odd = dict(events[1], data=dict(events[1]["data"], **{"~": ["note"]}))
    odd.pop("prev")
    odd = make_event(node=NODE, seq=2, prev=event_hash(events[0]), at=odd["at"], actor=odd["actor"],
                     type=odd["type"], dossier=odd["dossier"], data=odd["data"], id=odd["id"])
    encoded = wire2.encode_events([events[0], odd], NODE)
    assert encoded[1] == {"full": odd}
    assert wire2.decode_events(encoded, NODE)[0] == [events[0], odd]


def test_a_field_missing_from_an_event_is_listed_and_comes_back_missing():
    event = chain(1)[1]  # dossier.processing: template has "note"
    data = {k: v for k, v in event["data"].items() if k != "note"}
    short = make_event(node=NODE, seq=event["seq"], prev=event["prev"], at=event["at"], actor=event["actor"],
                       type=event["type"], dossier=event["dossier"], data=data, id=event["id"])
    encoded = wire2.encode_event(short, NODE, None, None)
    assert encoded["data"]["~"] == ["note"]
    assert wire2.decode_events([encoded], NODE)[0] == [short]


@pytest.mark.parametrize("bad", [
    "not a list", [1], [{"full": 1}], [{"full": {}, "x": 1}],
    [{"seq": 1, "prev": GENESIS, "type": "dossier.processing", "data": {"~": ["nope"]}}],
    [{"seq": 1, "prev": GENESIS, "type": "dossier.processing", "data": {"~": "note"}}],
    [{"seq": 1, "prev": GENESIS, "type": "dossier.received", "data": {"dossier": {}}}],  # code refers to no dossier
])
def test_a_malformed_v2_batch_is_refused_with_a_clear_error(bad):
    with pytest.raises(wire2.WireError):
        wire2.decode_events(bad, NODE)


def test_the_dictionary_body_is_smaller_than_gzip_and_refused_past_its_caps():
    raw = canonical_json({"events": wire2.encode_events(chain(30), NODE)})
    body = wire2.compress(raw)
    assert len(body) < len(gzip.compress(raw, 9))
    assert wire2.decompress(body, 1 << 20, 1 << 22) == raw
    with pytest.raises(EnvelopeError) as too_big:
        wire2.decompress(body, 1 << 20, len(raw) - 1)
    assert too_big.value.code == "too_large"
    with pytest.raises(EnvelopeError) as plain_gzip:  # a v1 body sent with the v2 encoding
        wire2.decompress(gzip.compress(raw), 1 << 20, 1 << 22)
    assert plain_gzip.value.code == "bad_encoding"
