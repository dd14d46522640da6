"""A node killed with SIGKILL during pushes, 20 times: nothing lost, nothing duplicated.

A real central and a real node on loopback; the node is enrolled through a FaultProxy capped to a
slow link so pushes last long enough to be cut by the kill. Between kills the desk keeps
working (intakes and actions through the API, some of them in flight when the kill lands), so
there is always a backlog. At the end the link heals, the node drains, and central must hold
exactly the node's chain, which must still verify, with every dossier whose intake was answered.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
import time

import pytest
import requests

from protocol.canonical import loads
from protocol.events import event_hash, verify_chain
from tests.conftest import wait_until
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import APPLICANT, Central, Node

pytestmark = pytest.mark.usefixtures("e2e_central_database")  # central on each engine (--central-db)

AGENCY = "000.00.06.H56"
KILLS = int(os.environ.get("MOTCUA_SYNC_CRASH_KILLS", "20"))  # stress level; CI runs 20
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng")
GIVEN = ("Dũng", "Lan", "Hương", "Tuấn", "Mai", "Hải", "Linh", "Sơn", "Yến", "Bình", "Nam")


def applicant_name(i: int) -> str:
    return f"{FAMILY[i % 7]} Văn {GIVEN[i // 7 % 11]} {chr(65 + i // 77 % 26)}"


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    central.start()
    proxy = WatchedProxy(central.port).start()
    node.enroll(proxy.url, central.add_node(AGENCY))  # every sync request crosses the proxy
    yield central, node, proxy
    node.stop()
    proxy.stop()
    central.stop()


class Desk(threading.Thread):
    """A clerk working without pause until told to stop: intakes, and "start" on earlier dossiers.

    Only answers that arrived count: a request cut by the kill may or may not have been saved,
    which is fine either way as long as central ends up with exactly what the node has.
    """

    def __init__(self, node: Node, first: int, rng: random.Random):
        super().__init__(daemon=True, name="desk")
        self.node, self.i, self.rng = node, first, rng
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {node.token}"
        self.answered: list[str] = []  # intakes whose 201 reached us
        self.started: list[str] = []
        self.cut = 0  # requests lost to the kill
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc

    def work(self) -> None:
        waiting: list[str] = []  # received here, not started yet
        while True:
            try:
                if waiting and self.rng.random() < 0.4:
                    code = waiting.pop(self.rng.randrange(len(waiting)))
                    r = self.http.post(f"{self.node.url}/api/v1/dossiers/{code}/actions/start",
                                       json={"handler": "Trần Văn Hùng"}, timeout=10)
                    assert r.status_code == 200, r.text
                    self.started.append(code)
                else:
                    r = self.http.post(self.node.url + "/api/v1/dossiers", timeout=10, json={
                        "procedure_code": "1.001193", "applicant": dict(APPLICANT, name=applicant_name(self.i)),
                        "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}],
                        "channel": "in_person", "return_method": "desk"})
                    self.i += 1
                    assert r.status_code == 201, r.text
                    self.answered.append(r.json()["code"])
                    waiting.append(self.answered[-1])
            except requests.RequestException:
                self.cut += 1
                return
            time.sleep(self.rng.uniform(0.0, 0.03))


class _Watched:
    """Wraps a pipe's reader: marks the pipe "moving" from a chunk's arrival until it is forwarded."""

    def __init__(self, reader, moving: set, key: object):
        self.reader, self.moving, self.key = reader, moving, key

    async def read(self, n: int) -> bytes:
        self.moving.discard(self.key)  # the previous chunk has crossed
        data = await self.reader.read(n)
        if data:
            self.moving.add(self.key)
        return data


class WatchedProxy(FaultProxy):
    """FaultProxy that also tells whether bytes are crossing the link right now."""

    def __init__(self, target_port: int):
        super().__init__(target_port)
        self.moving: set = set()

    async def _pipe(self, reader, writer, direction, budget):
        key = object()
        try:
            await super()._pipe(_Watched(reader, self.moving, key), writer, direction, budget)
        finally:
            self.moving.discard(key)


def push_in_flight(proxy: WatchedProxy) -> bool:
    return bool(proxy.moving)


def central_count(central) -> int:
    conn = central.db()
    try:
        return conn.execute("SELECT count(*) FROM events WHERE node = ?", (AGENCY,)).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_a_node_killed_20_times_during_pushes_loses_nothing_and_duplicates_nothing(world):
    central, node, proxy = world
    rng = random.Random(20260)
    # ~4 kB/s: a push of 50 events takes about a second to cross; 0.3 s more per chunk each way,
    # so central's answer is still on the wire for a while after central committed the batch.
    proxy.set(bandwidth=4_000, latency=0.3)
    answered, started, cut, in_flight_kills, unacked_kills = [], [], 0, 0, 0
    started_at = time.monotonic()
    for kill in range(KILLS):
        node.start()
        desk = Desk(node, len(answered) + cut + 1000 * kill, rng)
        desk.start()
        time.sleep(rng.uniform(0.3, 1.0))  # a backlog builds and a push starts
        with contextlib.suppress(AssertionError):  # no push seen in time: kill at a random moment anyway
            wait_until(lambda: push_in_flight(proxy), 3, interval=0.02, message="a push in flight")
        time.sleep(rng.uniform(0.0, 0.6))  # a random moment of the push
        in_flight_kills += push_in_flight(proxy)
        node.server.kill()
        # central stored more than the node saw acknowledged: the re-send after restart must be idempotent
        unacked_kills += central_count(central) > int(node.sync_value("acked_seq") or 0)
        desk.join(15)
        assert not desk.is_alive() and desk.error is None, desk.error
        answered += desk.answered
        started += desk.started
        cut += desk.cut
    print(f"\n{KILLS} kills in {time.monotonic() - started_at:.1f} s, {in_flight_kills} with a sync exchange "
          f"in flight, {unacked_kills} after central stored a batch whose answer the node never read; "
          f"{len(answered)} intakes answered, {cut} requests cut by a kill; "
          f"{central_count(central)} of {len(node.events())} events at central before healing")
    assert in_flight_kills >= KILLS // 2, "most kills should land during a push"

    proxy.heal()
    node.start()
    total = len(node.events())
    wait_until(lambda: central_count(central) >= total, 60, message="central has every event after the kills")
    assert central.events(AGENCY) == node.events()  # same seqs and hashes: nothing lost, nothing twice

    nconn = node.db()
    try:
        rows = nconn.execute("SELECT seq, hash, body FROM events ORDER BY seq").fetchall()
        node_codes = {r[0] for r in nconn.execute("SELECT code FROM dossiers")}
        node_status = {r["code"]: r["status"] for r in nconn.execute("SELECT code, status FROM dossiers")}
    finally:
        nconn.close()
    bodies = [loads(r["body"]) for r in rows]
    head = verify_chain(bodies, node=AGENCY)  # no gap, no reorder, every prev links
    assert head.seq == total
    assert all(event_hash(b) == r["hash"] for b, r in zip(bodies, rows, strict=True))

    conn = central.db()
    try:
        central_status = {r["code"]: r["status"] for r in conn.execute(
            "SELECT code, status FROM dossiers WHERE node = ?", (AGENCY,))}
        ranges = [(r[0], r[1]) for r in conn.execute(
            "SELECT first_seq, last_seq FROM batches WHERE node = ? ORDER BY first_seq", (AGENCY,))]
        assert conn.execute("SELECT count(*) FROM forks").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM anomalies").fetchone()[0] == 0
        central_bodies = [loads(r[0]) for r in conn.execute(
            "SELECT body FROM events WHERE node = ? ORDER BY seq", (AGENCY,))]
    finally:
        conn.close()
    assert central_bodies == bodies
    following = 1
    for first, last in ranges:  # stored batches tile 1..N: no seq stored twice, none skipped
        assert first == following and last >= first, ranges
        following = last + 1
    assert following == total + 1
    assert set(answered) <= node_codes  # every answered intake survived the kills...
    assert set(answered) <= set(central_status)  # ...and reached central
    assert central_status == node_status
    assert all(node_status[c] != 2 for c in started)  # every answered "start" is kept (2 = received)
    print(f"{total} events, {len(ranges)} batches stored at central, {len(answered)} dossiers verified")
