"""Enrolling a node with central: generate the key, register it, pin central's key."""
from __future__ import annotations

import logging
from pathlib import Path

import requests

from appshell.settings import ConfigError
from protocol import sync as wire
from protocol.envelope import SIGNATURE_HEADER, EnvelopeError, open_sealed
from protocol.keys import fingerprint, generate, load_private, load_public, public_b64, save_private

from . import sync_state
from .clock import local_now
from .settings import load_settings, write_settings
from .sync import KEY_NAME
from .sync_client import CentralClient

log = logging.getLogger("motcua.sync")


class EnrolError(Exception):
    pass


def _node_key(data_dir: Path, rotate: bool):
    path = Path(data_dir) / KEY_NAME
    if path.exists() and rotate:
        path.rename(path.with_name(f"{KEY_NAME}.replaced-{local_now():%Y%m%d-%H%M%S}"))
    if not path.exists():
        save_private(generate(), path)
    return load_private(path)


def enrol(conn, data_dir: Path, url: str, code: str, *, session=None, timeout=(10, 60)) -> dict:
    """Register this node's key with central; returns the sealed reply's fields."""
    settings = load_settings(data_dir)
    url = url.rstrip("/")
    if sync_state.get(conn, "central_public_key"):
        raise EnrolError("this node is already enrolled; a re-enrolment needs a new data folder "
                         "(disaster recovery) or `motcua-node recover`")
    from . import events
    has_history = events.head(conn).seq > 0
    key = _node_key(data_dir, rotate=False)
    body = {"code": wire.normalize_code(code), "public_key": public_b64(key), "agency_code": settings["agency_code"]}
    try:
        response = (session or requests).post(url + wire.ENROLL, json=body, timeout=timeout, stream=True)
        raw = response.raw.read(1024 * 1024, decode_content=False)
    except requests.exceptions.RequestException as exc:
        raise EnrolError(f"cannot reach central at {url}: {type(exc).__name__}") from None
    try:
        import gzip
        import json
        unverified = json.loads(gzip.decompress(raw))
        central_key = load_public(unverified["central_public_key"])
        reply = open_sealed(raw, response.headers.get(SIGNATURE_HEADER), central_key)
    except (EnvelopeError, ValueError, KeyError, OSError, TypeError):
        raise EnrolError(f"central answered HTTP {response.status_code} with an unsigned or invalid reply") from None
    if response.status_code != 200:
        error = reply.get("error") or {}
        raise EnrolError(f"central refused the enrolment: {error.get('code')}: {error.get('message')}")
    if reply.get("request") != wire.enrol_request_id(code):
        raise EnrolError("central's reply does not answer this enrolment code")
    if reply.get("agency_code") != settings["agency_code"]:
        raise EnrolError(f"code is for agency {reply.get('agency_code')}, this node is {settings['agency_code']}")
    if has_history and reply.get("recovery"):
        raise EnrolError("a recovery code restores an empty, freshly initialised node; this one has events")
    sync_state.put(conn, node_id=reply["node"], central_url=url, central_public_key=reply["central_public_key"],
                   central_fingerprint=fingerprint(reply["central_public_key"]),
                   node_fingerprint=fingerprint(public_b64(key)), enrolled_at=local_now().isoformat())
    values = dict(settings)
    values["central_url"] = url
    write_settings(data_dir, values)
    restored = 0
    if reply.get("recovery"):
        from .recovery import restore_history
        client = CentralClient(url, reply["node"], key, load_public(reply["central_public_key"]),
                               connect_timeout=timeout[0], read_timeout=timeout[1], session=session)
        restored = restore_history(conn, client)
    return {"node": reply["node"], "central_fingerprint": fingerprint(reply["central_public_key"]),
            "node_fingerprint": fingerprint(public_b64(key)), "recovery": bool(reply.get("recovery")),
            "restored": restored}


__all__ = ["enrol", "EnrolError", "ConfigError"]
