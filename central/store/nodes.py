"""Nodes and their keys: the registry of communes, one-time enrolment/recovery codes, enrolment
itself, each node's sync health (contact, forks, anomalies, which reference versions it applied)
and the events it pushed (read back when it restores)."""
from __future__ import annotations

import base64
import secrets
import sqlite3
from datetime import datetime, timedelta

from appshell.sqlite import write_tx
from domain.codes import agency_code_error
from protocol import sync as wire
from protocol.canonical import loads
from protocol.keys import KeyError_, fingerprint, load_public, public_b64

from .. import feed
from ..clock import iso
from ..db import node_write_tx
from ..ingest import Refused, stored_head, touch
from . import dialect

CODE_CHARS = 10


class RegistryError(ValueError):
    """An operator request that cannot be done (English, for the CLI)."""


def new_code() -> str:
    """10 base32 characters grouped for reading aloud: 'K7QF2-M4XPA' (50 bits)."""
    text = base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:CODE_CHARS]
    return f"{text[:5]}-{text[5:]}"


def normalise_code(code: str) -> str:
    """Accept lower case, spaces and missing/extra dashes; 0/1/8 typed for O/I/B (never in base32)."""
    text = wire.normalize_code(str(code or ""))
    return text.replace("0", "O").replace("1", "I").replace("8", "B")


def code_hash(code: str) -> str:
    """What is stored for a code; for a correctly typed code it equals protocol.sync.enrol_request_id."""
    return wire.enrol_request_id(normalise_code(code))


def _issue(conn, node: str, purpose: str, now: datetime, minutes: int) -> tuple[str, datetime]:
    code = new_code()
    expires = now + timedelta(minutes=minutes)
    conn.execute("INSERT INTO enrol_codes(code_hash, node, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                 (code_hash(code), node, purpose, iso(now), iso(expires)))
    return code, expires


def add_node(conn, agency: str, name: str, *, now: datetime, minutes: int) -> tuple[str, datetime]:
    error = agency_code_error(agency)
    if error:
        raise RegistryError(error)
    if not (name or "").strip():
        raise RegistryError("node name must not be empty")
    with write_tx(conn):
        if conn.execute("SELECT 1 FROM nodes WHERE id = ?", (agency,)).fetchone():
            raise RegistryError(f"node {agency} already exists (use 'node recovery-code' for a new key)")
        conn.execute("INSERT INTO nodes(id, name, status, created_at) VALUES (?, ?, 'pending', ?)",
                     (agency, name.strip(), iso(now)))
        return _issue(conn, agency, "enrol", now, minutes)


def recovery_code(conn, agency: str, *, now: datetime, minutes: int) -> tuple[str, datetime]:
    """A code that registers a new key for an existing node (its disk or PC was lost)."""
    with write_tx(conn):
        row = conn.execute("SELECT status FROM nodes WHERE id = ?", (agency,)).fetchone()
        if row is None:
            raise RegistryError(f"no node {agency}")
        return _issue(conn, agency, "enrol" if row["status"] == "pending" else "recover", now, minutes)


def revoke(conn, agency: str, *, now: datetime) -> None:
    with write_tx(conn):
        if conn.execute("UPDATE nodes SET status = 'revoked' WHERE id = ?", (agency,)).rowcount != 1:
            raise RegistryError(f"no node {agency}")
        conn.execute("UPDATE node_keys SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL", (iso(now), agency))
        conn.execute("UPDATE enrol_codes SET used_at = ? WHERE node = ? AND used_at IS NULL", (iso(now), agency))


def enrol(conn: sqlite3.Connection, body: dict, *, now: datetime, central_key, central_name: str) -> dict:
    """Register a node's key with a one-time code; raises Refused. Returns the reply payload."""
    if not isinstance(body, dict):
        raise Refused(400, "bad_request", "body must be a JSON object {code, public_key, agency_code}")
    code, public_key, agency = body.get("code"), body.get("public_key"), body.get("agency_code")
    if not all(isinstance(v, str) and v for v in (code, public_key, agency)):
        raise Refused(400, "bad_request", "code, public_key and agency_code are required strings")
    try:
        load_public(public_key)
    except KeyError_ as exc:
        raise Refused(400, "bad_public_key", str(exc)) from None
    hashed = code_hash(code)
    with write_tx(conn):
        row = conn.execute("SELECT * FROM enrol_codes WHERE code_hash = ?", (hashed,)).fetchone()
        if row is None:
            raise Refused(403, "invalid_code", "unknown enrolment code")
        if row["used_at"] is not None:
            raise Refused(403, "code_used", "this enrolment code has already been used")
        if row["expires_at"] <= iso(now):
            raise Refused(403, "code_expired", f"this enrolment code expired at {row['expires_at']}")
        if row["node"] != agency:
            raise Refused(403, "wrong_agency", f"this code is not for agency {agency}")
        node = conn.execute("SELECT * FROM nodes WHERE id = ?", (agency,)).fetchone()
        recovery = row["purpose"] == "recover"
        if not recovery and conn.execute("SELECT 1 FROM node_keys WHERE node = ? AND revoked_at IS NULL",
                                         (agency,)).fetchone():
            raise Refused(409, "already_enrolled", f"node {agency} already has a key; ask for a recovery code")
        conn.execute("UPDATE enrol_codes SET used_at = ? WHERE code_hash = ?", (iso(now), hashed))
        conn.execute("UPDATE node_keys SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL", (iso(now), agency))
        conn.execute("INSERT INTO node_keys(node, public_key, fingerprint, created_at) VALUES (?, ?, ?, ?)",
                     (agency, public_key, fingerprint(public_key), iso(now)))
        conn.execute("UPDATE nodes SET status = 'active', enrolled_at = COALESCE(enrolled_at, ?), "
                     "last_contact_at = ? WHERE id = ?", (iso(now), iso(now), agency))
        feed.catch_up_reference(conn, agency, now=now)
        head = stored_head(conn, agency)
    central_public = public_b64(central_key)
    return {"node": agency, "agency_code": agency, "agency_name": node["name"], "central_name": central_name,
            "central_public_key": central_public, "central_fingerprint": fingerprint(central_public),
            "node_fingerprint": fingerprint(public_key), "central_time": iso(now),
            "head": wire.head_dict(head.seq, head.hash), "recovery": recovery,
            "request": wire.enrol_request_id(code)}


def listing(conn, now: datetime | None = None, silent_after_hours: int = 24) -> list[dict]:
    """Every node with its health figures; ``silent`` when an active node has not called for too long."""
    silent_before = iso(now - timedelta(hours=silent_after_hours)) if now else None
    rows = conn.execute("""
        SELECT n.*, (SELECT fingerprint FROM node_keys k WHERE k.node = n.id AND k.revoked_at IS NULL
                     ORDER BY k.id DESC LIMIT 1) AS fingerprint,
               (SELECT COUNT(*) FROM forks f WHERE f.node = n.id) AS forks,
               (SELECT COUNT(*) FROM anomalies a WHERE a.node = n.id) AS anomalies
        FROM nodes n ORDER BY n.id""").fetchall()
    return [{"id": r["id"], "name": r["name"], "status": r["status"], "fingerprint": r["fingerprint"],
             "enrolled_at": r["enrolled_at"], "head_seq": r["head_seq"], "head_hash": r["head_hash"],
             "last_contact_at": r["last_contact_at"], "pending_reported": r["pending_reported"],
             "oldest_pending_at": r["oldest_pending_at"], "clock_offset_seconds": r["clock_offset_seconds"],
             "catalogue_version": r["catalogue_version"], "calendar_version": r["calendar_version"],
             "forks": r["forks"], "anomalies": r["anomalies"],
             "silent": bool(silent_before and r["status"] == "active"
                            and (r["last_contact_at"] or "") < silent_before)} for r in rows]


# --- reading the registry --------------------------------------------------------------------------

def names(conn, *, active_only: bool = False) -> list[tuple[str, str]]:
    """(id, name) of every node (or every active one), by name then id: the communes of a select box."""
    where = " WHERE status = 'active'" if active_only else ""
    return [(r["id"], r["name"]) for r in conn.execute(f"SELECT id, name FROM nodes{where} ORDER BY name, id")]


def get(conn, agency: str) -> dict | None:
    """The node's registry row as a dict, or None."""
    row = conn.execute("SELECT * FROM nodes WHERE id = ?", (agency,)).fetchone()
    return dict(row) if row else None


def public_keys(conn, agency: str) -> list[str]:
    """Every public key the node ever registered, newest first (a paper outlives a key rotation)."""
    return [r["public_key"] for r in conn.execute(
        "SELECT public_key FROM node_keys WHERE node = ? ORDER BY id DESC", (agency,))]


def detail(conn, agency: str) -> dict:
    """What the node's page shows beside its listing row: keys, codes issued, forks, anomalies, batches."""
    def rows(sql: str) -> list[dict]:
        return [dict(r) for r in conn.execute(sql, (agency,))]
    return {
        "keys": rows("SELECT fingerprint, created_at, revoked_at FROM node_keys WHERE node = ? ORDER BY id DESC"),
        "codes": rows("SELECT purpose, created_at, expires_at, used_at FROM enrol_codes WHERE node = ? "
                      "ORDER BY created_at DESC LIMIT 20"),
        "forks": rows("SELECT seq, stored_hash, offered_hash, at FROM forks WHERE node = ? ORDER BY id DESC LIMIT 50"),
        "anomalies": rows("SELECT seq, dossier, message, at FROM anomalies WHERE node = ? ORDER BY id DESC LIMIT 50"),
        "batches": rows("SELECT first_seq, last_seq, received_at, source FROM batches WHERE node = ? "
                        "ORDER BY id DESC LIMIT 10"),
    }


def applied_versions(conn) -> dict[str, dict]:
    """node -> {"catalogue": applied or None, "calendar": ..., "feed_applied_seq": ...}; None = not reported.

    Which reference versions a node has APPLIED is known from the feed head it states in its feed
    requests (``nodes.feed_applied_seq``): the latest catalogue/calendar entry at or below that head.
    """
    sub = (f"(SELECT {dialect.of(conn).json_int('f.body', 'data.version')} FROM feed f WHERE f.node = n.id "
           "AND f.type = ? AND f.seq <= n.feed_applied_seq ORDER BY f.seq DESC LIMIT 1)")
    out = {}
    for row in conn.execute(f"SELECT n.id, n.feed_applied_seq, {sub} AS catalogue, {sub} AS calendar FROM nodes n",
                            (feed.KINDS["catalogue"], feed.KINDS["calendar"])):
        known = row["feed_applied_seq"] is not None
        # no entry applied yet: the node runs what `motcua-node init` installed, which its feed does
        # not repeat (feed.catch_up_reference)
        out[row["id"]] = {"feed_applied_seq": row["feed_applied_seq"],
                          "catalogue": (row["catalogue"] or feed.SHIPPED_VERSION) if known else None,
                          "calendar": (row["calendar"] or feed.SHIPPED_VERSION) if known else None}
    return out


# --- what the sync endpoints record and read back ----------------------------------------------------

def record_contact(conn, agency: str, payload: dict, now: datetime) -> None:
    """A verified request from the node: its last contact, pending count and clock offset."""
    with node_write_tx(conn, agency):  # only the node's own row: in parallel with other nodes
        touch(conn, agency, payload, now)


def record_feed_applied(conn, agency: str, seq: int) -> None:
    """The feed head the node says it applied (it tells which reference versions it runs)."""
    with node_write_tx(conn, agency):
        conn.execute("UPDATE nodes SET feed_applied_seq = ? WHERE id = ?", (seq, agency))


def pushed_events(conn, agency: str, after: int, limit: int) -> list[dict]:
    """The node's own events after ``after``, as it signed them, for a node restoring its log."""
    rows = conn.execute("SELECT body FROM events WHERE node = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (agency, after, limit))
    return [loads(r["body"]) for r in rows]
