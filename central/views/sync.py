"""The signed-envelope endpoints nodes call (protocol/sync.py): push, feed, history, enrol.

Every reply, errors included, is sealed by central's key. Signed envelopes, not browser forms:
the blueprint is exempt from CSRF.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, request

from appshell.web import api_error
from protocol import sync as wire
from protocol import wire2
from protocol.canonical import loads
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER, seal

from .. import feed
from ..clock import iso
from ..cut_pushes import CUT_PUSHES
from ..db import get_db
from ..ingest import Refused, authenticate, error_payload, ingest, resolve_workers, stored_head
from ..ingest_v2 import ingest_v2
from ..store import nodes

bp = Blueprint("sync", __name__)
log = logging.getLogger("motcua.central")

MAX_FEED = 500
MAX_HISTORY = 2000
MAX_ENROL_BODY = 64 * 1024


def wire_versions() -> list[int]:
    return [int(v) for v in current_app.config["MOTCUA"].get("sync_wire_versions", "1,2").split(",")]


def sealed(status: int, payload: dict) -> Response:
    versions = wire_versions()
    if versions != [1]:  # a central that takes only v1 says nothing, like one older than v2
        said = {"accepts": versions, "prefers": max(versions)}
        if current_app.extensions[CUT_PUSHES].cap:
            said["resume"] = True  # it keeps the part of a cut push (protocol/sync.py RESUME)
        payload = dict(payload, wire=said)
    body, signature = seal(current_app.extensions["motcua.central_key"], payload, level=6)
    response = Response(body, status=status, content_type="application/json")
    response.headers["Content-Encoding"] = "gzip"
    response.headers[SIGNATURE_HEADER] = signature
    return response


def refused(exc: Refused, node: str | None = None, req: str | None = None) -> Response:
    return sealed(exc.status, error_payload(exc, node=node, request=req, now=g.now))


def read_body(limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` before reading it (Content-Length first)."""
    length = request.content_length
    if length is not None and length > limit:
        raise Refused(413, "too_large", f"body of {length} bytes is over the {limit}-byte cap")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise Refused(413, "too_large", f"body is over the {limit}-byte cap")
    return data


def _node_request():
    node = request.headers.get(NODE_HEADER)
    body = read_body(current_app.config["CAPS"].max_body)
    return node, body, request.headers.get(SIGNATURE_HEADER)


@bp.post(wire.PUSH)
def push():
    node = request.headers.get(NODE_HEADER)
    try:
        node, body, signature = _node_request()
    except Refused as exc:
        return refused(exc, node)
    return _ingest_push(node, body, request.headers)


def _ingest_push(node: str | None, body: bytes, headers) -> Response:
    """A whole push body with its request's headers (signatures, encoding): ingested, sealed reply."""
    conn = get_db()
    pool = {"workers": resolve_workers(current_app.config["MOTCUA"].get("ingest_workers", "auto")),
            "where": current_app.config["DATABASE"]}
    signature = headers.get(SIGNATURE_HEADER)
    if headers.get("Content-Encoding") == wire2.ENCODING and 2 in wire_versions():
        status, payload = ingest_v2(conn, node, body, signature, headers.get(wire2.BATCH_SIGNATURE_HEADER),
                                    source="push", now=g.now, caps=current_app.config["CAPS"], **pool)
    else:
        status, payload = ingest(conn, node, body, signature, source="push", now=g.now,
                                 caps=current_app.config["CAPS"], **pool)
    if status == 200:  # the node pulls its feed only when this differs from what it applied
        head = feed.feed_head(conn, node)
        payload["feed_head"] = wire.head_dict(head.seq, head.hash)
    else:
        log.warning("push from %s refused: %s", node, payload["error"]["code"])
    return sealed(status, payload)


def _held_reply(status: int, held) -> Response:
    """Where central's copy of a cut push ends: a plain hint (what completes is verified as a push)."""
    return Response(f'{{"offset":{len(held.data)},"length":{held.length}}}', status=status,
                    content_type="application/json")


@bp.get(wire.RESUME + "<upload>")
def cut_push_offset(upload: str):
    held = current_app.extensions[CUT_PUSHES].held(request.headers.get(NODE_HEADER, ""), upload)
    if held is None:
        return api_error("not_held", "central holds no part of this upload; send the batch again", 404)
    return _held_reply(200, held)


@bp.post(wire.RESUME + "<upload>")
def resume_push(upload: str):
    """The rest of a cut push: appended to what central holds; ingested as that push once whole."""
    node = request.headers.get(NODE_HEADER, "")
    cuts = current_app.extensions[CUT_PUSHES]
    try:
        offset = int(request.headers.get(wire.OFFSET_HEADER, ""))
        data = read_body(current_app.config["CAPS"].max_body)
    except ValueError:
        return api_error("bad_request", f"{wire.OFFSET_HEADER} must be a whole number", 400)
    except Refused as exc:
        return api_error(exc.code, exc.message, exc.status)
    held = cuts.held(node, upload)
    if held is None:
        return api_error("not_held", "central holds no part of this upload; send the batch again", 404)
    if cuts.append(node, upload, offset, data) is None:
        return _held_reply(409, held)  # not where central's copy ends: the node sends from there
    whole = cuts.take_whole(node, upload)
    if whole is None:
        return _held_reply(202, held)  # still not whole (or another request took it whole just now)
    return _ingest_push(node, bytes(whole.data), whole.headers)


def _paged(after, limit, cap):
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise Refused(400, "bad_payload", "'after' must be a whole number >= 0")
    if limit is None:
        limit = cap
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise Refused(400, "bad_payload", "'limit' must be a whole number >= 1")
    return after, min(limit, cap)


def _read_request(handler):
    node = request.headers.get(NODE_HEADER)
    req = None
    try:
        node, body, signature = _node_request()
        conn = get_db()
        payload = authenticate(conn, node, body, signature, current_app.config["CAPS"])
        req = payload["nonce"]
        reply = handler(conn, node, payload)
        nodes.record_contact(conn, node, payload, g.now)
    except Refused as exc:
        return refused(exc, node, req)
    reply.update(node=node, request=req, central_time=iso(g.now))
    return sealed(200, reply)


@bp.post(wire.FEED)
def pull_feed():
    def handler(conn, node, payload):
        after, limit = _paged(payload.get("after", 0), payload.get("limit"), MAX_FEED)
        head = feed.feed_head(conn, node)
        nodes.record_feed_applied(conn, node, min(after, head.seq))  # which reference versions it runs
        return {"entries": feed.read_feed(conn, node, after, limit), "head": wire.head_dict(head.seq, head.hash),
                "after_hash": feed.entry_hash(conn, node, after)}
    return _read_request(handler)


@bp.post(wire.HISTORY)
def history():
    def handler(conn, node, payload):
        after, limit = _paged(payload.get("after", 0), payload.get("limit"), MAX_HISTORY)
        events = nodes.pushed_events(conn, node, after, limit)
        head = stored_head(conn, node)
        return {"events": events, "head": wire.head_dict(head.seq, head.hash)}
    return _read_request(handler)


@bp.post(wire.ENROLL)
def enroll():
    body = None
    try:
        raw = read_body(MAX_ENROL_BODY)
        try:
            body = loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "bad_request", "body must be JSON {code, public_key, agency_code}") from None
        reply = nodes.enrol(get_db(), body, now=g.now, central_key=current_app.extensions["motcua.central_key"],
                            central_name=current_app.config["MOTCUA"]["name"])
    except Refused as exc:
        code = body.get("code") if isinstance(body, dict) else None
        return refused(exc, req=wire.enrol_request_id(code) if isinstance(code, str) else None)
    log.info("node %s enrolled (recovery=%s)", reply["node"], reply["recovery"])
    return sealed(200, reply)
