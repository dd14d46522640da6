"""A push cut on its way: central keeps the bytes that reached it, and the rest completes it.

A real central (waitress on a loopback port, the product's channel) and a raw socket that sends part
of a signed push and closes, as a link that dies mid-upload; then the node's two resume requests.
"""
from __future__ import annotations

import json
import socket

import pytest
import requests

from central.cut_pushes import CutPushes
from protocol import sync as wire
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER, open_sealed
from tests.conftest import LiveServer, wait_until

from .conftest import central_public


def signed_push(node, dossiers: int = 40) -> tuple[bytes, dict, str]:
    for _ in range(dossiers):
        node.receive()
    payload = node.payload(events=node.events, pending=0, oldest_pending_at=node.events[0]["at"])
    body, signature = node.seal(payload)
    headers = {NODE_HEADER: node.agency, SIGNATURE_HEADER: signature, "Content-Encoding": "gzip",
               "Content-Type": "application/json"}
    return body, headers, payload["nonce"]


def cut_push(port: int, body: bytes, headers: dict, sent: int) -> None:
    """Send the push's headers and ``sent`` bytes of its body, then close: the link died mid-body."""
    head = f"POST {wire.PUSH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body[:sent])
        sock.shutdown(socket.SHUT_WR)


def held(live, node, upload: str):
    return requests.get(live.url + wire.RESUME + upload, headers={NODE_HEADER: node.agency}, timeout=10)


def resume(live, node, upload: str, offset: int, data: bytes):
    response = requests.post(live.url + wire.RESUME + upload, data=data, timeout=30, stream=True,
                             headers={NODE_HEADER: node.agency, wire.OFFSET_HEADER: str(offset)})
    response.body = response.raw.read(decode_content=False)  # as sent: a sealed reply is gzip
    return response


def open_reply(central_app, response) -> dict:
    """The reply must be sealed by central's key, as every reply to a push; the verified payload."""
    assert response.headers["Content-Encoding"] == "gzip"
    return open_sealed(response.body, response.headers[SIGNATURE_HEADER], central_public(central_app))


@pytest.fixture
def live(central_app):
    server = LiveServer(central_app).start()
    yield server
    server.stop()


def cut_and_held(live, node, sent, dossiers: int = 40) -> tuple[bytes, str, str]:
    """A signed push of ``dossiers`` new dossiers, cut after ``sent`` body bytes (a callable takes the
    body's length): (body, upload id, nonce) once central holds its part."""
    body, headers, nonce = signed_push(node, dossiers)
    upload = wire.upload_id(headers[SIGNATURE_HEADER])
    cut_push(live.port, body, headers, sent(len(body)) if callable(sent) else sent)
    wait_until(lambda: held(live, node, upload).status_code == 200, timeout=10)
    return body, upload, nonce


def stored(conn, node) -> list[tuple[int, int]]:
    return [tuple(r) for r in conn.execute("SELECT first_seq, last_seq FROM batches WHERE node = ?", (node.agency,))]


def test_a_push_cut_mid_body_is_kept_and_its_rest_completes_it_into_one_stored_batch(central_app, live, node,
                                                                                     conn):
    body, upload, nonce = cut_and_held(live, node, lambda length: length // 2)
    half = len(body) // 2
    assert held(live, node, upload).json() == {"offset": half, "length": len(body)}
    assert stored(conn, node) == []  # nothing ingested from a part

    reply = resume(live, node, upload, half, body[half:])
    assert reply.status_code == 200
    payload = open_reply(central_app, reply)  # the push's own sealed reply, answering its nonce
    assert payload["request"] == nonce and payload["accepted"] == len(node.events)
    assert payload["head"]["seq"] == len(node.events)
    assert stored(conn, node) == [(1, len(node.events))]
    assert held(live, node, upload).status_code == 404  # forgotten once ingested


def test_a_resume_from_another_offset_is_told_where_central_s_copy_ends_and_an_overlap_is_skipped(
        central_app, live, node, conn):
    body, upload, _ = cut_and_held(live, node, lambda length: length // 3)
    kept, end = len(body) // 3, len(body)
    ahead = resume(live, node, upload, kept + 10, body[kept + 10:])  # would leave a hole
    assert ahead.status_code == 409 and json.loads(ahead.body) == {"offset": kept, "length": end}
    part = resume(live, node, upload, kept - 100, body[kept - 100:end - 50])  # overlaps, not whole
    assert part.status_code == 202 and json.loads(part.body) == {"offset": end - 50, "length": end}
    done = resume(live, node, upload, end - 50, body[end - 50:])
    assert done.status_code == 200 and open_reply(central_app, done)["accepted"] == len(node.events)
    assert stored(conn, node) == [(1, len(node.events))]


def test_a_cut_push_is_answered_only_to_its_own_node_and_upload(central_app, live, node):
    body, upload, _ = cut_and_held(live, node, 100, dossiers=5)
    other = requests.get(live.url + wire.RESUME + upload, headers={NODE_HEADER: "000.00.06.H99"}, timeout=10)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_held"
    assert held(live, node, "0" * 16).status_code == 404
    assert resume(live, node, "0" * 16, 100, body[100:]).status_code == 404
    bad = requests.post(live.url + wire.RESUME + upload, data=body[100:], timeout=10,
                        headers={NODE_HEADER: node.agency, wire.OFFSET_HEADER: "a hundred"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    cap = central_app.config["CAPS"].max_body
    huge = requests.post(live.url + wire.RESUME + upload, data=b"x" * (cap + 1), timeout=30,
                         headers={NODE_HEADER: node.agency, wire.OFFSET_HEADER: "100"})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    assert held(live, node, upload).json()["offset"] == 100  # none of that changed what central holds


def test_a_completed_cut_push_whose_bytes_were_altered_is_refused_like_any_push_and_stores_nothing(
        central_app, live, node, conn):
    body, upload, _ = cut_and_held(live, node, 200)
    rest = bytearray(body[200:])
    rest[len(rest) // 2] ^= 0x01  # the rest is not what the node signed
    refused = resume(live, node, upload, 200, bytes(rest))
    assert refused.status_code in (400, 401)
    assert open_reply(central_app, refused)["error"]["code"] in ("bad_encoding", "bad_signature")
    assert stored(conn, node) == []
    assert held(live, node, upload).status_code == 404  # dropped: the node sends the batch again


def test_central_keeps_one_cut_push_per_node_for_an_hour_within_its_byte_cap():
    now = [0.0]
    cuts = CutPushes(cap=1000, max_body=10_000, ttl=3600, clock=lambda: now[0])
    push = {"X_MOTCUA_NODE": "A", "X_MOTCUA_SIGNATURE": "sig-1", "CONTENT_ENCODING": "gzip"}
    cuts.keep(wire.PUSH, push, lambda: b"x" * 400, 2000)
    first = cuts.held("A", wire.upload_id("sig-1"))
    assert first is not None and bytes(first.data) == b"x" * 400 and first.length == 2000
    assert first.headers == {SIGNATURE_HEADER: "sig-1", "Content-Encoding": "gzip"}
    cuts.keep(wire.PUSH, dict(push, X_MOTCUA_SIGNATURE="sig-2"), lambda: b"y" * 300, 2000)  # a newer one replaces it
    assert cuts.held("A", wire.upload_id("sig-1")) is None and cuts.held("A", wire.upload_id("sig-2"))
    now[0] += 1
    cuts.keep(wire.PUSH, dict(push, X_MOTCUA_NODE="B"), lambda: b"z" * 800, 2000)  # past the cap: A's, older, goes
    assert cuts.held("A", wire.upload_id("sig-2")) is None and cuts.held("B", wire.upload_id("sig-1"))
    now[0] += 3601
    assert cuts.held("B", wire.upload_id("sig-1")) is None  # an hour later: forgotten
    cuts.keep(wire.PUSH, push, lambda: b"x" * 10, 20_000)  # longer than any push central takes: not kept
    cuts.keep(wire.PUSH, {"X_MOTCUA_NODE": "A"}, lambda: b"x" * 10, 2000)  # no signature: not kept
    def never_read() -> bytes:
        raise AssertionError("the body of a request that is no push was copied")
    cuts.keep("/api/v1/sync/blob-chunk", push, never_read, 2000)  # not a push: its bytes are not even read
    assert cuts.held("A", wire.upload_id("sig-1")) is None
    off = CutPushes(cap=0, max_body=10_000)  # sync_resume_bytes = 0
    off.keep(wire.PUSH, push, lambda: b"x" * 10, 2000)
    assert off.held("A", wire.upload_id("sig-1")) is None


def test_a_resume_cut_in_its_turn_adds_what_reached_central_to_the_copy():
    cuts = CutPushes(cap=10_000, max_body=10_000)
    cuts.keep(wire.PUSH, {"X_MOTCUA_NODE": "A", "X_MOTCUA_SIGNATURE": "sig"}, lambda: b"a" * 100, 1000)
    upload = wire.upload_id("sig")
    cuts.keep(wire.RESUME + upload, {"X_MOTCUA_NODE": "A", "X_MOTCUA_OFFSET": "100"}, lambda: b"b" * 300, 900)
    assert bytes(cuts.held("A", upload).data) == b"a" * 100 + b"b" * 300
    cuts.keep(wire.RESUME + upload, {"X_MOTCUA_NODE": "A", "X_MOTCUA_OFFSET": "900"}, lambda: b"c" * 10, 100)  # a hole
    cuts.keep(wire.RESUME + upload, {"X_MOTCUA_NODE": "B", "X_MOTCUA_OFFSET": "400"}, lambda: b"c" * 10, 600)  # not B's
    assert len(cuts.held("A", upload).data) == 400
