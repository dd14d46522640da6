"""Sync through a faulty link: a real node pushes its backlog to a real central through FaultProxy.

The node is enrolled THROUGH the proxy, so every sync request crosses it. While the node drains a
backlog of 2,000 events (500 dossiers: intake, start, resolve, return) the link goes through
phases: down, latency, resets, central answering 500, a bandwidth cap, connections dropped
mid-body, connections cut during transfers, stalled replies longer than the read timeout, and
refused connections again. Then it heals and the node must catch up quickly, with every event at central exactly once.
"""
from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.conftest import wait_until
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import APPLICANT, FAST_SYNC, Central, Node

pytestmark = pytest.mark.usefixtures("e2e_central_database")  # central on each engine (--central-db)

AGENCY = "000.00.06.H56"
CAP = FAST_SYNC["sync_backoff_cap_seconds"]
READ_TIMEOUT = FAST_SYNC["sync_read_timeout"]
DOSSIERS = 500
ACTIONS = (("start", {"handler": "Trần Văn Hùng"}), ("resolve", {}), ("return", {"rating": 5}))
EVENTS = DOSSIERS * (1 + len(ACTIONS))  # 2,000


class Always500(BaseHTTPRequestHandler):
    """Stands in for a central that is up but broken: every request gets a plain 500."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"Internal Server Error"
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args):
        pass


class Broken:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Always500)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.port = self.server.server_address[1]

    def start(self) -> Broken:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng")
GIVEN = ("Dũng", "Lan", "Hương", "Tuấn", "Mai", "Hải", "Linh", "Sơn", "Yến", "Bình")


def applicant_name(i: int) -> str:
    """Distinct plausible names without digits (the desk refuses digits in a name)."""
    return f"{FAMILY[i % 5]} Văn {GIVEN[i // 5 % 10]} {chr(65 + i // 50 % 26)}"


class Clerk(threading.Thread):
    """Creates the node's events through its API: blocks of 50 intakes, then their actions."""

    def __init__(self, node: Node, seed: int = 7):
        super().__init__(daemon=True, name="clerk")
        self.node = node
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {node.token}"
        self.ops: list[tuple[str, int]] = []
        for block in range(0, DOSSIERS, 50):
            self.ops += [("intake", i) for i in range(block, block + 50)]
            for action, _ in ACTIONS:
                self.ops += [(action, i) for i in range(block, block + 50)]
        assert len(self.ops) == EVENTS
        self.codes: dict[int, str] = {}
        self.done = 0
        self.pace = 1.0  # events per second once running in the background
        self.limit = EVENTS  # where the background run stops
        self.error: BaseException | None = None
        self.rng = random.Random(seed)

    def step(self) -> None:
        op, i = self.ops[self.done]
        if op == "intake":
            r = self.http.post(self.node.url + "/api/v1/dossiers", timeout=30, json={
                "procedure_code": "1.001193", "applicant": dict(APPLICANT, name=applicant_name(i)),
                "documents": [{"name": "Tờ khai", "kind": "original", "count": 1}],
                "channel": "in_person", "return_method": "desk"})
            assert r.status_code == 201, r.text
            self.codes[i] = r.json()["code"]
        else:
            params = dict(ACTIONS)[op]
            r = self.http.post(f"{self.node.url}/api/v1/dossiers/{self.codes[i]}/actions/{op}",
                               json=params, timeout=30)
            assert r.status_code == 200, r.text
        self.done += 1

    def run_until(self, count: int) -> None:
        while self.done < count:
            self.step()

    def run(self) -> None:  # the rest, paced, in the background
        try:
            started, first = time.monotonic(), self.done
            while self.done < self.limit:
                self.step()
                due = started + (self.done - first) / self.pace
                time.sleep(max(0.0, due - time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    node = Node(tmp_path, AGENCY)
    broken = Broken().start()
    central.start()
    proxy = FaultProxy(central.port).start()
    node.enroll(proxy.url, central.add_node(AGENCY))  # every sync request crosses the proxy
    yield central, node, proxy, broken
    node.stop()
    proxy.stop()
    broken.stop()
    central.stop()


def central_count(central) -> int:
    conn = central.db()
    try:
        return conn.execute("SELECT count(*) FROM events WHERE node = ?", (AGENCY,)).fetchone()[0]
    finally:
        conn.close()


def assert_exactly_once(central, node, expected: int) -> None:
    """Same seqs and hashes on both sides; central's batches tile 1..N without overlap or gap."""
    node_events = node.events()
    assert [seq for seq, _ in node_events] == list(range(1, expected + 1))
    assert central.events(AGENCY) == node_events
    conn = central.db()
    try:
        assert conn.execute("SELECT seq FROM events WHERE node = ? GROUP BY seq HAVING count(*) > 1",
                            (AGENCY,)).fetchall() == []
        ranges = [(r["first_seq"], r["last_seq"]) for r in conn.execute(
            "SELECT first_seq, last_seq FROM batches WHERE node = ? ORDER BY first_seq", (AGENCY,))]
        following = 1
        for first, last in ranges:
            assert first == following and last >= first, f"batches overlap or leave a gap: {ranges}"
            following = last + 1
        assert following == expected + 1
        per_batch = dict(conn.execute("SELECT b.id, count(e.seq) FROM batches b LEFT JOIN events e "
                                      "ON e.batch_id = b.id WHERE b.node = ? GROUP BY b.id", (AGENCY,)).fetchall())
        assert all(n > 0 for n in per_batch.values()), "a stored batch holds no event"
        assert conn.execute("SELECT count(*) FROM forks").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM anomalies").fetchone()[0] == 0
        central_dossiers = {r["code"]: r["status"] for r in conn.execute(
            "SELECT code, status FROM dossiers WHERE node = ?", (AGENCY,))}
    finally:
        conn.close()
    nconn = node.db()
    try:
        node_dossiers = {r["code"]: r["status"] for r in nconn.execute("SELECT code, status FROM dossiers")}
    finally:
        nconn.close()
    assert central_dossiers == node_dossiers


# no connection at all ("offline") or a connection accepted and then cut ("dropped"): both are a dead link
LINK_DOWN = ("offline", "dropped")


@pytest.mark.slow
def test_2000_events_cross_a_faulty_link_exactly_once_and_the_node_catches_up_within_two_retry_intervals(world):
    central, node, proxy, broken = world
    node.start()
    kind = lambda: node.sync_value("last_error_kind")  # noqa: E731
    log = []

    # Phase 0 - link down while the desk works: a backlog of 1,000 events builds up. The link dies with the
    # connection the node's first hello may have left open (down refuses only new ones), as at the end.
    proxy.set(down=True)
    proxy.cut_all()
    wait_until(lambda: proxy.idle, 5, message="the first hello's connection is cut")
    clerk = Clerk(node)
    clerk.run_until(EVENTS // 2)
    wait_until(lambda: kind() in LINK_DOWN, 10, message="status shows the link is down")
    assert central_count(central) == 0

    # 900 more events arrive while the link misbehaves, about 30 a second; the last 100 at the end.
    clerk.pace, clerk.limit = 30.0, EVENTS - 100
    clerk.start()

    def phase(name: str, seconds: float, *, expect: str | None = None, progress: bool = False, **faults):
        proxy.heal()
        proxy.set(**faults)
        before, started = central_count(central), time.monotonic()
        if expect:
            wait_until(lambda: kind() in (LINK_DOWN if expect == "offline" else (expect,)),
                       seconds + READ_TIMEOUT + CAP,
                       message=f"status shows {expect!r} during {name}")
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        after = central_count(central)
        log.append(f"{name}: {before} -> {after} events at central, status {kind()!r}")
        if progress:
            assert after > before, f"no event got through during {name}"

    phase("latency 0.2 s", 4, progress=True, latency=0.2)
    phase("reset", 3, expect="offline", reset=True)
    proxy.heal()
    proxy.target = ("127.0.0.1", broken.port)  # central "answers 500" (read per new connection)
    phase("500 from central", 4, expect="server")
    proxy.target = ("127.0.0.1", central.port)
    phase("bandwidth 32 kB/s", 4, progress=True, bandwidth=32_000)
    # 400 bytes: every request is cut, an idle node's hello too (with trimmed headers it is ~500 bytes)
    phase("dropped mid-request after 400 bytes", 4, expect="offline", drop_after=400)

    # Connections cut at random moments while 32 kB/s transfers are in flight.
    proxy.heal()
    proxy.set(bandwidth=32_000)
    cuts, until = 0, time.monotonic() + 5
    rng = random.Random(11)
    while time.monotonic() < until:
        time.sleep(rng.uniform(0.1, 0.5))
        proxy.cut_all()
        cuts += 1
    log.append(f"cut_all x{cuts}: {central_count(central)} events at central, status {kind()!r}")

    # Replies held for longer than the read timeout; the node must give up and retry, never hang.
    phase(f"stall {READ_TIMEOUT + 2} s", READ_TIMEOUT + 2, expect="timeout", stall=True)
    clerk.join(60)
    assert not clerk.is_alive() and clerk.error is None, clerk.error

    # Last, the link goes down while the desk records its last 100 events; at healing the worker
    # is asleep in its backoff, not in the middle of a request.
    proxy.set(down=True)
    proxy.cut_all()  # the stalled exchange dies with the link rather than resuming
    wait_until(lambda: proxy.idle, 5, message="the stalled exchange is cut")
    proxy.set(stall=False)
    clerk.run_until(EVENTS)
    wait_until(lambda: kind() in LINK_DOWN, CAP + 5, message="status shows the link is down again")
    time.sleep(CAP)
    log.append(f"down: {central_count(central)} events at central, status {kind()!r}")
    total = len(node.events())
    assert total == EVENTS
    backlog = total - central_count(central)
    proxy.heal()
    healed = time.monotonic()
    caught_up = wait_until(lambda: central_count(central) == total, 2 * CAP + 30, interval=0.05,
                           message="central has every event after healing")
    recovery = caught_up - healed
    wait_until(lambda: kind() is None and node.sync_value("last_error") is None, 2 * CAP + 5,
               message="status clears the error after healing")
    print("\n" + "\n".join(log))
    print(f"healed with {backlog} events pending; central caught up in {recovery:.2f} s "
          f"(bound {2 * CAP + 8} s = two retry intervals + 8 s to drain); "
          f"proxy: {proxy.connections} connections, {proxy.bytes_up} B up, {proxy.bytes_down} B down")
    assert backlog > 0, "the last faulty phases should leave a backlog to catch up"
    assert recovery < 2 * CAP + 8
    assert_exactly_once(central, node, EVENTS)
    assert len(clerk.codes) == DOSSIERS
    wait_until(lambda: node.sync_value("acked_seq") == str(EVENTS), 10, message="node sees central's ack")


@pytest.mark.slow
def test_a_link_that_drops_every_connection_after_8_kb_still_moves_the_backlog(world):
    central, node, proxy, _broken = world
    proxy.set(down=True)
    node.start()
    node.intake(300)  # ~25 kB gzipped in the first batch of 200: over what the link carries
    proxy.heal()
    proxy.set(drop_after=8000)  # a flaky 2G link: every connection dies after 8 kB upstream
    try:
        wait_until(lambda: central_count(central) == 300, 20, message="the backlog crosses the flaky link")
    finally:
        print(f"\n{central_count(central)} of 300 events at central; status {node.sync_value('last_error_kind')!r}; "
              f"batch size {node.sync_value('batch_size')}; {proxy.connections} connections")
    assert_exactly_once(central, node, 300)
