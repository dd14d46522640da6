import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import canonical_json, loads
from protocol.events import GENESIS, ChainError, Head, event_hash, make_event, verify_chain


def chain(n, node="N1"):
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        e = make_event(node=node, seq=seq, prev=prev, at="2026-01-05T08:00:00+07:00",
                       actor="clerk", type="dossier.received", dossier=f"X-260105-{seq:04d}",
                       data={"n": seq, "name": "Nguyễn Văn Đức"})
        prev = event_hash(e)
        events.append(e)
    return events


def test_canonical_json_sorts_keys_without_spaces_in_utf8():
    assert canonical_json({"b": 1, "a": "Đ"}) == '{"a":"Đ","b":1}'.encode()


def test_canonical_json_refuses_floats_and_non_string_keys():
    with pytest.raises(TypeError):
        canonical_json({"a": 1.5})
    with pytest.raises(TypeError):
        canonical_json({1: "a"})
    with pytest.raises(ValueError):
        loads(b'{"a":1.5}')


@pytest.mark.parametrize("text", [
    b'{"a":"\\ud800"}', b'{"a":"x\\uDFFF"}', b'{"\\udbff":1}', b'{"a":["\\ude00\\ud83d"]}',  # escapes: alone, reversed
    b'{"a":"\xed\xa0\x80"}', b'{"a":"\xed\xa0\xbd\xed\xb8\x80"}',  # the bytes of a surrogate (CESU-8's pair)
    '{"a":"\\ud800"}',
])
def test_loads_refuses_a_lone_surrogate_however_it_is_written(text):
    with pytest.raises(ValueError, match="lone surrogate"):
        loads(text)


def test_loads_keeps_a_surrogate_pair_escape_and_text_that_only_looks_like_one():
    assert loads(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001F600"}
    # an escaped backslash before "ud800", and Hangul (its UTF-8 starts with ED 95)
    assert loads('{"a":"\\\\ud800 Nguyễn \ud55c"}'.encode()) == {"a": "\\ud800 Nguyễn \ud55c"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_round_trips_byte_for_byte(value):
    data = canonical_json(value)
    assert canonical_json(loads(data)) == data


def test_a_valid_chain_verifies_and_returns_its_head():
    events = chain(5)
    head = verify_chain(events)
    assert head == Head(5, event_hash(events[-1]))
    assert verify_chain(events[2:], Head(2, event_hash(events[1]))) == head


def test_refuses_a_gap_a_reorder_an_edit_and_a_foreign_node():
    events = chain(4)
    with pytest.raises(ChainError, match="gap"):
        verify_chain([events[0], events[2]])
    with pytest.raises(ChainError, match="gap"):
        verify_chain([events[1], events[0]])
    edited = [dict(e) for e in events]
    edited[1]["data"] = {"n": 99}
    with pytest.raises(ChainError, match="previous event's hash"):
        verify_chain(edited)
    with pytest.raises(ChainError, match="belongs to node"):
        verify_chain(events, node="OTHER")


def test_refuses_events_with_missing_or_extra_keys():
    e = chain(1)[0]
    bad = dict(e, extra=1)
    with pytest.raises(ChainError):
        verify_chain([bad])
