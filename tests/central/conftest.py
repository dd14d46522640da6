"""Central fixtures: central's app and Flask test client on a real data folder (``central_dir``, in
tests/conftest.py), logged-in clients for the web tests, and a FakeNode that
acts as a commune node with its own key, signed batches and hash chain (built here, from
protocol/ and domain/ only, so these tests never depend on the node package)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from domain import workflow
from domain.calendar import WorkCalendar, load_default_calendar
from domain.catalogue import load_sample_catalogue
from domain.codes import format_code
from protocol import keys
from protocol import sync as wire
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER, open_sealed, seal
from protocol.events import GENESIS, event_hash, make_event
from tests.conftest import CENTRAL_ADMIN_PASSWORD  # the central_dir fixture's admin (tests/conftest.py)

AGENCY = "000.00.06.H56"
OTHER_AGENCY = "000.00.07.H56"
APPLICANT = {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
             "address": "Thôn Đông, xã Hòa Bình", "email": ""}

_PROCEDURES = load_sample_catalogue()[1]
_CAL_VERSION, _CAL_ENTRIES = load_default_calendar()
CALENDAR = WorkCalendar(_CAL_ENTRIES, version=_CAL_VERSION)


@pytest.fixture
def central_app(central_dir, clock):
    from central.app import create_app
    from central.db import close_pools
    app = create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True})
    yield app
    close_pools(app)


def central_target(data_dir: Path):
    """The database a central data folder uses (its SQLite file or its PostgreSQL URL)."""
    from central.db import target
    from central.settings import load_settings
    return target(data_dir, load_settings(data_dir))


@pytest.fixture
def central(central_app):
    return central_app.test_client()


@pytest.fixture
def conn(central_app):
    from central.db import connect
    c = connect(central_app.config["DATABASE"])
    yield c
    c.close()


def central_public(central_app):
    return central_app.extensions["motcua.central_key"].public_key()


def open_reply(central_app, response) -> dict:
    """Every sync reply must be sealed by central's key; return the verified payload."""
    assert response.headers["Content-Encoding"] == "gzip"
    return open_sealed(response.get_data(), response.headers[SIGNATURE_HEADER], central_public(central_app))


def add_node(conn, clock, agency=AGENCY, name="UBND xã Hòa Bình"):
    from central.store import nodes
    return nodes.add_node(conn, agency, name, now=clock.now, minutes=60)[0]


class FakeNode:
    """A commune node reduced to what the wire needs: key, chain, dossier states."""

    def __init__(self, clock, agency=AGENCY):
        self.clock, self.agency = clock, agency
        self.key = keys.generate()
        self.events: list[dict] = []
        self.states: dict[str, dict] = {}
        self.day_seq = 0

    # -- chain ---------------------------------------------------------------------------------
    @property
    def head_hash(self) -> str:
        return event_hash(self.events[-1]) if self.events else GENESIS

    def append(self, type_, dossier, data, at=None, actor="lan") -> dict:
        event = make_event(node=self.agency, seq=len(self.events) + 1, prev=self.head_hash,
                           at=workflow.iso(at or self.clock.now), actor=actor, type=type_, dossier=dossier,
                           data=data)
        self.events.append(event)
        return event

    def receive(self, procedure=None) -> str:
        from domain.dossier import apply_event
        procedure = procedure or next(p for p in _PROCEDURES if p.limit_unit != "same_day")
        self.day_seq += 1
        code = format_code(self.agency, self.clock.now.date(), self.day_seq)
        change = workflow.receive(procedure=procedure, applicant=APPLICANT,
                                  documents=[{"name": "Tờ khai", "kind": "original", "count": 1}],
                                  channel="in_person", return_method="desk", code=code, agency=self.agency,
                                  now=self.clock.now, calendar=CALENDAR, catalogue_version=1, actor="lan",
                                  register_no=self.day_seq)
        event = self.append(change.type, code, change.data)
        self.states[code] = apply_event(None, event)
        return code

    def act(self, code, fn, params=None) -> dict:
        from domain.dossier import apply_event
        change = fn(self.states[code], params or {}, self.clock.now, CALENDAR, None)
        event = self.append(change.type, code, change.data)
        self.states[code] = apply_event(self.states[code], event)
        return event

    # -- wire -----------------------------------------------------------------------------------
    def payload(self, **fields) -> dict:
        return {"node": self.agency, "nonce": wire.nonce(), "sent_at": self.clock.now.isoformat(), **fields}

    def seal(self, payload: dict, key=None) -> tuple[bytes, str]:
        return seal(key or self.key, payload)

    def post(self, client, path, payload, key=None, body=None, signature=None):
        sealed_body, sealed_sig = self.seal(payload, key)
        return client.post(path, data=body if body is not None else sealed_body, headers={
            NODE_HEADER: self.agency, SIGNATURE_HEADER: signature or sealed_sig,
            "Content-Encoding": "gzip", "Content-Type": "application/json"})

    def push(self, client, events=None, **kw):
        events = self.events if events is None else events
        payload = self.payload(events=events, pending=len(events),
                               oldest_pending_at=events[0]["at"] if events else None)
        return self.post(client, wire.PUSH, payload, **kw)

    def enrol(self, client, code, agency=None):
        return client.post(wire.ENROLL, json={"code": code, "public_key": keys.public_b64(self.key),
                                              "agency_code": agency or self.agency})

    def bundle(self, path: Path, events=None) -> Path:
        events = self.events if events is None else events
        body, signature = self.seal(self.payload(events=events, pending=len(events), oldest_pending_at=None))
        path.write_text(json.dumps({"kind": wire.BUNDLE_KIND, "node": self.agency, "signature": signature,
                                    "body": base64.b64encode(body).decode("ascii")}), encoding="utf-8")
        return path


@pytest.fixture
def node(central, conn, clock):
    """A FakeNode already enrolled with central."""
    fake = FakeNode(clock)
    response = fake.enrol(central, add_node(conn, clock))
    assert response.status_code == 200
    return fake


# --- central's web product: accounts, logged-in clients and helpers (tests/central/test_*.py) -----------

VIEWER_PASSWORD = "Viewer-pass-2026"
OTHER_ADMIN_PASSWORD = "Other-admin-2026"


@pytest.fixture
def web_app(central_dir, clock):
    """Central with two more accounts and CSRF off (test_web.py has a test with CSRF on)."""
    from appshell import accounts
    from central import roles
    from central.app import create_app
    from central.db import connect
    conn = connect(central_target(central_dir))
    accounts.create(conn, "minh", VIEWER_PASSWORD, "viewer", "Lê Văn Minh", clock.now, roles=roles.ROLES)
    accounts.create(conn, "thu", OTHER_ADMIN_PASSWORD, "admin", "Phạm Thị Thu", clock.now, roles=roles.ROLES)
    conn.close()
    return create_app({"DATA_DIR": central_dir, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def db(web_app):
    from central.db import connect
    c = connect(web_app.config["DATABASE"])
    yield c
    c.close()


def login(client, username="admin", password=CENTRAL_ADMIN_PASSWORD):
    return client.post("/dang-nhap", data={"username": username, "password": password})


@pytest.fixture
def admin(web_app):
    client = web_app.test_client()
    assert login(client).status_code == 302
    return client


@pytest.fixture
def viewer(web_app):
    client = web_app.test_client()
    assert login(client, "minh", VIEWER_PASSWORD).status_code == 302
    return client


def token(db, clock, username="admin") -> dict:
    from appshell import accounts
    from central import roles
    value = accounts.create_token(db, accounts.by_name(db, username), "test", clock.now, prefix=roles.TOKEN_PREFIX)
    return {"Authorization": f"Bearer {value}"}


def enrolled(web_app, db, clock, agency=AGENCY, name="UBND xã Hòa Bình") -> FakeNode:
    node = FakeNode(clock, agency)
    assert node.enrol(web_app.test_client(), add_node(db, clock, agency, name)).status_code == 200
    return node


def push(web_app, node: FakeNode, events=None):
    response = node.push(web_app.test_client(), events)
    assert response.status_code == 200, open_reply(web_app, response)
    return open_reply(web_app, response)


def text(response) -> str:
    return response.get_data(as_text=True)
