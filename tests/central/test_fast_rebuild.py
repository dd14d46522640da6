"""Central rebuilds v2 batches with a faster JSON encoder (orjson) than canonical JSON, and keeps its
bytes only when the rebuilt payload verifies against the batch signature: what is stored, accepted
and refused is exactly what the canonical encoder gives (central/ingest_v2.py)."""
from __future__ import annotations

import gzip
import json

import pytest

from central import ingest, ingest_v2
from domain import workflow
from domain.statuses import Status
from protocol import keys, wire2
from protocol.canonical import canonical_json, loads
from protocol.events import event_hash
from tests.central.conftest import AGENCY, open_reply
from tests.central.test_push_v2 import push_v2

_CANONICAL_PARSED = wire2._CANONICAL  # the encoder decode_events uses by default


def test_the_fast_encoder_writes_every_code_point_in_keys_and_strings_as_canonical_json_does():
    for start in range(0, 0x110000, 0x1000):
        text = "".join(chr(c) for c in range(start, start + 0x1000) if not 0xD800 <= c <= 0xDFFF)
        value = {text: [text, {c: c for c in text[:64]}], "k" + text[-8:]: text[::-1]}
        assert ingest_v2._fast_json(value) == _CANONICAL_PARSED(value).encode("utf-8"), hex(start)
    for c in range(0x110000):  # one at a time too: each escape alone, at the start and end of a string
        if not 0xD800 <= c <= 0xDFFF:
            value = {chr(c): chr(c) + "a" + chr(c)}
            assert ingest_v2._fast_json(value) == _CANONICAL_PARSED(value).encode("utf-8"), hex(c)


def test_the_fast_encoder_sorts_keys_and_writes_values_as_canonical_json_does_or_refuses_them():
    value = {"\uffff": 1, "\U00010000": 2, "\ue000": 3, "a": [], "": {}, "\x00": None, "é": True, "ê": False,
             "Z": "", "nested": {"b": [1, -1, 0, 2**63 - 1, -(2**63), 2**64 - 1], "a": [{"y": 1, "x": 2}]}}
    assert ingest_v2._fast_json(value) == canonical_json(value)
    for refused in (2**64, -(2**63) - 1, 10**30, "\ud800", {"\udfff": 1}):  # canonical JSON's path decides these
        with pytest.raises(TypeError):
            ingest_v2._fast_json(refused)


def stored(conn):
    events = conn.execute("SELECT body, hash FROM events WHERE node = ? ORDER BY seq", (AGENCY,)).fetchall()
    batches = conn.execute("SELECT signature, body FROM batches ORDER BY id").fetchall()
    return events, batches


def json_doc(value) -> str:
    """A stored dossier document as central wrote it before orjson: json.dumps, unsorted, no escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_a_stored_document_is_written_as_json_wrote_it_for_every_code_point_in_keys_and_strings():
    for start in range(0, 0x110000, 0x1000):
        text = "".join(chr(c) for c in range(start, start + 0x1000) if not 0xD800 <= c <= 0xDFFF)
        value = {"z": 1, text: [text, {c: c for c in text[:64]}], "k" + text[-8:]: text[::-1], "a": None}
        assert ingest._DOC(value) == json_doc(value), hex(start)
    for c in range(0x110000):
        if not 0xD800 <= c <= 0xDFFF:
            value = {chr(c): chr(c) + "a" + chr(c)}
            assert ingest._DOC(value) == json_doc(value), hex(c)


class Text(str):
    pass


def test_a_stored_document_keeps_key_order_and_what_orjson_refuses_or_would_write_its_own_way_goes_to_json():
    value = {"z": [1, -1, 0, 2**63 - 1, -(2**63), 2**64 - 1], "a": {"y": True, "x": False}, "": "", "\x00": None,
             "status": Status.RESOLVED}
    assert ingest._DOC(value) == json_doc(value)
    for odd in (2**64, -(2**63) - 1, 10**30, Text("tên"), {"k": Text("v")}):  # json writes these
        assert ingest._DOC({"x": odd}) == json_doc({"x": odd})
    for refused in ("\ud800", {"\udfff": 1}, {1: "a"}, object()):  # json refuses (or writes) these as before
        try:
            expected = json_doc({"x": refused})
        except (TypeError, ValueError) as exc:
            with pytest.raises(type(exc)):
                ingest._DOC({"x": refused})
        else:
            assert ingest._DOC({"x": refused}) == expected


def test_a_v2_batch_rebuilt_with_the_fast_encoder_stores_byte_identical_events_and_batches_to_the_canonical_encoder(
        central, central_app, conn, node):
    codes = [node.receive() for _ in range(3)]
    node.act(codes[0], workflow.start_processing, {"handler": "Nguyễn Thị Hoa"})
    node.act(codes[1], workflow.start_processing, {"handler": "hùng"})
    node.act(codes[1], workflow.request_supplement, {"items": "Bản sao \"giấy\" khai sinh\n\tký tên",
                                                     "reason": "Thiếu bản sao \\ 😀"})
    # control characters, line and paragraph separators (no NUL: PostgreSQL's text cannot hold it)
    node.append("dossier.note", codes[2], {"text": "\x01\x1f\x7f\u2028\u2029 ~ {}[]", "~": [1, "a"]})
    payload = node.payload(events=node.events, pending=0, oldest_pending_at=node.events[0]["at"])
    raw = canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(node.events, node.agency)))
    v2 = loads(raw)
    signature = keys.sign(node.key, canonical_json(payload))
    key_list = ingest.node_keys(conn, AGENCY)

    fast = ingest_v2._fast_rebuild(key_list, AGENCY, v2, signature)
    assert fast is not None  # the fast bytes verified
    canonical_events, canonical_raws = wire2.decode_events(v2["events"], AGENCY)
    assert fast[0] == canonical_events == node.events
    assert fast[1] == canonical_raws == [canonical_json(e) for e in node.events]
    assert fast[2] == canonical_json(payload)
    assert fast[3] == [event_hash(e) for e in node.events]

    response = push_v2(central, node, node.events)
    assert response.status_code == 200 and open_reply(central_app, response)["accepted"] == len(node.events)
    events, batches = stored(conn)
    assert [r["body"].encode() for r in events] == [canonical_json(e) for e in node.events]
    assert [r["hash"] for r in events] == [event_hash(e) for e in node.events]
    [batch] = batches
    full = gzip.decompress(batch["body"])
    assert full == canonical_json(loads(full))  # the full payload, canonical (and signed: below)
    assert batch["body"] == ingest_v2.stored_body(full)  # (the same bytes every time)
    assert loads(gzip.decompress(batch["body"]))["events"] == node.events
    assert keys.verify(node.key.public_key(), gzip.decompress(batch["body"]), batch["signature"])


def test_a_batch_whose_fast_encoding_does_not_verify_falls_back_to_the_canonical_encoder_and_is_still_accepted(
        central, central_app, conn, node):
    code = node.receive()
    # an integer past 64 bits: orjson refuses it, canonical JSON writes it; the batch goes the canonical way
    node.append("dossier.note", code, {"text": "số lớn", "count": 2**70})
    payload = node.payload(events=node.events, pending=0, oldest_pending_at=node.events[0]["at"])
    v2 = loads(canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(node.events, node.agency))))
    key_list = ingest.node_keys(conn, AGENCY)
    assert ingest_v2._fast_rebuild(key_list, AGENCY, v2, keys.sign(node.key, canonical_json(payload))) is None
    response = push_v2(central, node, node.events)
    assert response.status_code == 200 and open_reply(central_app, response)["accepted"] == 2
    events, batches = stored(conn)
    assert [r["body"].encode() for r in events] == [canonical_json(e) for e in node.events]
    full = gzip.decompress(batches[0]["body"])
    assert full == canonical_json(loads(full)) and loads(full)["events"] == node.events


def test_fast_bytes_that_do_not_verify_are_not_kept_and_the_canonical_rebuild_refuses_the_batch(
        central, central_app, conn, node):
    node.receive()
    payload = node.payload(events=node.events, pending=0, oldest_pending_at=None)
    v2 = loads(canonical_json(dict(payload, v=wire2.VERSION, events=wire2.encode_events(node.events, node.agency))))
    other = keys.sign(node.key, canonical_json(dict(payload, pending=1)))  # the node signed something else
    key_list = ingest.node_keys(conn, AGENCY)
    assert ingest_v2._fast_rebuild(key_list, AGENCY, v2, other) is None
    with pytest.raises(ingest.Refused) as refused:
        ingest_v2.rebuild(key_list, AGENCY, v2, other)
    assert (refused.value.status, refused.value.code) == (401, "bad_batch_signature")


def test_without_isal_a_stored_batch_is_gzipped_by_zlib_and_reads_back_the_same(tmp_path):
    import subprocess
    import sys
    script = ("import sys; sys.modules['isal'] = None\n"  # as on a machine isal's wheels do not cover
              "import gzip\n"
              "from central import ingest_v2\n"
              "assert ingest_v2._gzip is gzip\n"
              "full = '{\"events\":[{\"tên\":\"Nguyễn Văn Dũng\"}]}'.encode() * 50\n"
              "body = ingest_v2.stored_body(full)\n"
              "assert gzip.decompress(body) == full and body == ingest_v2.stored_body(full)\n"
              "print('zlib')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "zlib"
    assert ingest_v2._gzip.__name__ == "isal.igzip"  # where the wheels exist (this machine): ISA-L
