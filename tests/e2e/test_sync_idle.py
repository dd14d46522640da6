"""Quiet when idle: an enrolled node with nothing to send asks central nothing between heartbeats,
learns from push replies whether central's feed has news, and API replies carry no browser headers."""
from __future__ import annotations

import collections
import re
import sqlite3
import time

import pytest
import requests

from central.feed import latest, publish
from domain.clock import local_now
from tests.conftest import wait_until
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import Central, Node

AGENCY = "000.00.06.H56"
BROWSER_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options")


class _CountingReader:
    def __init__(self, inner, counts):
        self.inner, self.counts = inner, counts

    async def read(self, n):
        data = await self.inner.read(n)
        for path in re.findall(rb"POST (/api/\S+) HTTP", data):
            self.counts[path.decode()] += 1
        return data


class CountingProxy(FaultProxy):
    """The fault proxy, counting the requests that cross it by path."""

    def __init__(self, target_port: int):
        super().__init__(target_port)
        self.requests: collections.Counter = collections.Counter()

    async def _pipe(self, reader, writer, direction, budget):
        if direction == "up":
            reader = _CountingReader(reader, self.requests)
        return await super()._pipe(reader, writer, direction, budget)


@pytest.fixture
def world(tmp_path):
    central = Central(tmp_path)
    code = central.add_node(AGENCY)
    central.start()
    proxy = CountingProxy(central.port).start()
    node = Node(tmp_path, AGENCY)
    node.configure(sync_interval_seconds=1, sync_heartbeat_seconds=3600)
    node.enroll(proxy.url, code)
    yield central, proxy, node
    node.stop()
    proxy.stop()
    central.stop()


def test_an_idle_node_sends_nothing_between_heartbeats_and_pulls_only_when_central_has_news(world):
    central, proxy, node = world
    proxy.requests.clear()  # enrolment crossed the proxy too
    node.start()
    wait_until(lambda: node.sync_value("last_success_at") is not None, 20, message="the start-up heartbeat")
    after_start = dict(proxy.requests)
    assert after_start == {"/api/v1/sync/push": 1}  # one hello; central's feed holds nothing new: no pull
    time.sleep(5)  # five ticks of the worker with nothing to send
    assert dict(proxy.requests) == after_start and node.sync_value("last_error") is None

    node.intake(1)
    wait_until(lambda: len(central.events(AGENCY)) == 1, 20, message="the intake pushed")
    assert proxy.requests["/api/v1/sync/push"] == 2 and proxy.requests["/api/v1/sync/feed"] == 0

    conn = sqlite3.connect(central.dir / "motcua-central.db", timeout=15, isolation_level=None)
    conn.row_factory = sqlite3.Row
    version, body = latest(conn, "calendar")
    conn.execute("BEGIN IMMEDIATE")
    publish(conn, "calendar", version + 1, body, now=local_now())
    conn.execute("COMMIT")
    conn.close()
    node.intake(1)  # its push reply says central's feed moved: the node pulls it at once
    wait_until(lambda: node.db().execute("SELECT version FROM reference_versions WHERE kind = 'calendar'")
               .fetchone()[0] == version + 1, 20, message="the new calendar pulled")
    assert proxy.requests["/api/v1/sync/feed"] >= 1


def test_api_replies_carry_no_browser_headers_and_pages_keep_them(world):
    central, _proxy, node = world
    node.start()
    sync_reply = requests.post(central.url + "/api/v1/enroll", data=b"not json", timeout=10)
    assert sync_reply.status_code == 400 and sync_reply.headers.get("X-Motcua-Signature")
    api_reply = requests.get(node.url + "/api/v1/procedures", headers={"Authorization": f"Bearer {node.token}"},
                             timeout=10)
    assert api_reply.status_code == 200 and api_reply.headers["Cache-Control"] == "no-store"
    for reply in (sync_reply, api_reply):
        assert not [h for h in BROWSER_HEADERS if h in reply.headers]
    for page in (requests.get(central.url + "/", timeout=10), requests.get(node.url + "/dang-nhap", timeout=10)):
        assert all(h in page.headers for h in BROWSER_HEADERS)
