"""A connection reset while a batch uploads: central keeps what reached it and the node sends only the
rest, no hello first; with a central that keeps nothing, the node sends again less than the batch.

Real central and node processes; the node reaches central through tests/e2e/faultproxy.FaultProxy,
which records every request crossing it (bytes up, its headers, and whether the cut caught it),
shapes the link so a batch takes a while to upload, and cuts every open connection while one does.
"""
from __future__ import annotations

import re

import pytest

from tests.conftest import wait_until
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import ROOT, Central, Node, release_checkout

pytestmark = pytest.mark.usefixtures("e2e_central_database")  # central on each engine (--central-db)

AGENCY = "000.00.06.H56"
INTAKES = 300
HELLO_MAX = 1000  # an empty push (hello) is ~470 B up; a batch of events is several kB


class _Tap:
    """The proxy's reader for one direction, noting what it reads (one entry per request)."""

    def __init__(self, reader, proxy: RecordingProxy, key: int, direction: str):
        self.reader, self.proxy, self.key, self.direction = reader, proxy, key, direction
        self._transport = getattr(reader, "_transport", None)

    async def read(self, n: int) -> bytes:
        data = await self.reader.read(n)
        self.proxy.note(self.key, self.direction, data)
        entry = self.proxy._open.get(self.key)
        if data and self.direction == "down" and self.proxy.lose_reply and entry and entry["up"] > HELLO_MAX:
            self.proxy.lose_reply = False  # central stored the batch; its reply never reaches the node
            entry["cut"] = True
            raise ConnectionResetError("reply lost")
        return data


class _Counted:
    """The proxy's writer towards central, counting the bytes of each request it delivers."""

    def __init__(self, writer, proxy: RecordingProxy, key: int):
        self.writer, self.proxy, self.key = writer, proxy, key
        self.transport = writer.transport

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        entry = self.proxy._open.get(self.key)
        if entry is not None:
            entry["delivered"] += len(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class RecordingProxy(FaultProxy):
    def __init__(self, target_port: int):
        super().__init__(target_port)
        self.requests: list[dict] = []
        self._open: dict[int, dict] = {}
        self.lose_reply = False  # cut the connection as the reply to the next batch of events comes back

    async def _pipe(self, reader, writer, direction, budget):
        key = id(writer.transport if direction == "up" else reader._transport)  # the upstream connection
        if direction == "up":
            writer = _Counted(writer, self, key)
        return await super()._pipe(_Tap(reader, self, key, direction), writer, direction, budget)

    def note(self, key: int, direction: str, data: bytes) -> None:
        start = re.search(rb"(GET|POST) (/api/\S+) HTTP/1.1\r\n", data) if direction == "up" else None
        if start:
            self._open[key] = {"method": start.group(1).decode(), "path": start.group(2).decode("ascii", "replace"),
                               "up": 0, "down": 0, "delivered": 0, "cut": False,
                               "head": data[start.start():start.start() + 2048]}
            self.requests.append(self._open[key])
        entry = self._open.get(key)
        if entry is not None:
            if direction == "down" and not entry["down"]:
                entry["down_head"] = data[:200]
            entry[direction] += len(data)

    def cut_uploading(self) -> dict:
        """Cut every connection; return the request that was uploading (no reply yet)."""
        uploading = [e for e in self._open.values() if e["up"] and not e["down"]]
        for entry in uploading:
            entry["cut"] = True
        self.cut_all()
        return uploading[0] if uploading else {}


def central_batches(central: Central, node: str) -> list[tuple[int, int]]:
    conn = central.db()
    try:
        return [(r["first_seq"], r["last_seq"]) for r in conn.execute(
            "SELECT first_seq, last_seq FROM batches WHERE node = ? ORDER BY first_seq", (node,))]
    finally:
        conn.close()


def uploading(proxy: RecordingProxy, path: str = "/push", body: int = 600) -> dict | None:
    """A request whose headers and ``body`` bytes of its body reached central, not yet answered."""
    return next((e for e in proxy.requests if e["path"].endswith(path) and not e["down"]
                 and e["delivered"] > head_length(e) + body), None)


def wire_resume_path(push: dict) -> str:
    """The resume path of a recorded push (its upload id, from its signature header)."""
    from protocol import sync as wire
    signature = re.search(rb"\r\nX-Motcua-Signature: (\S+)\r\n", push["head"]).group(1).decode()
    return wire.RESUME + wire.upload_id(signature)


def header(entry: dict, name: str) -> int | None:
    """A whole-number header of the request ``entry`` recorded."""
    found = re.search(rb"\r\n" + name.encode() + rb": (\d+)\r\n", entry["head"], re.IGNORECASE)
    return int(found.group(1)) if found else None


def head_length(entry: dict) -> int:
    return entry["head"].index(b"\r\n\r\n") + 4


@pytest.fixture
def link(tmp_path, request):
    central = Central(tmp_path)
    if getattr(request, "param", None) == "keeps_nothing":
        central.configure(sync_resume_bytes=0)  # as a central older than resumable pushes
    central.start()
    proxy = RecordingProxy(central.port).start()
    node = Node(tmp_path, agency=AGENCY)
    node.configure(sync_interval_seconds=60, sync_heartbeat_seconds=600)  # no idle hellos in the record
    node.enroll(proxy.url, central.add_node(AGENCY))
    proxy.set(down=True)
    node.start()
    yield central, node, proxy
    node.stop()
    proxy.stop()
    central.stop()


def cut_a_batch(central, node, proxy) -> tuple[list, dict]:
    """Queue INTAKES events, bring the link up slow, cut while a batch uploads; wait for all at central."""
    node.intake(INTAKES)
    pending = node.events()
    assert len(pending) == INTAKES
    proxy.set(down=False, bandwidth=4_000)  # a batch of events takes a while to go up (200 B pieces)
    wait_until(lambda: uploading(proxy) is not None, timeout=30)
    cut = uploading(proxy)
    proxy.cut_all()
    assert cut["up"] > HELLO_MAX, proxy.requests
    proxy.set(bandwidth=0)
    wait_until(lambda: len(central.events(AGENCY)) == INTAKES, timeout=60)
    assert central.events(AGENCY) == pending  # every event once, the node's own hashes, nothing else
    return pending, cut


def test_a_cut_while_a_batch_uploads_sends_only_the_bytes_central_did_not_get_and_no_hello(link):
    central, node, proxy = link
    batch = int(node.sync_value("batch_size") or 200)
    pending, cut = cut_a_batch(central, node, proxy)

    batches = central_batches(central, AGENCY)
    assert [b[0] for b in batches] == [1] + [b[1] + 1 for b in batches[:-1]]  # contiguous, none twice
    at = proxy.requests.index(cut)
    probe, resume = proxy.requests[at + 1:at + 3]  # straight after the cut: no hello, no batch again
    assert probe["method"] == "GET" and "/sync/resume/" in probe["path"], proxy.requests[at:]
    assert resume["method"] == "POST" and resume["path"] == probe["path"] and resume["down"], proxy.requests[at:]
    length = header(cut, "Content-Length")
    got = cut["delivered"] - head_length(cut)  # the cut batch's body bytes the proxy delivered to central
    offset = header(resume, "X-Motcua-Offset")  # what central kept: all of them (the last piece or two
    assert 0 < got - 400 < offset <= got < length, (offset, got, length)  # may be lost in the reset itself)
    assert header(resume, "Content-Length") == length - offset  # only the rest went again
    assert probe["up"] + probe["down"] < 600  # asking where central's copy ends costs a few hundred bytes
    # every batch, the cut one too, is stored whole and once, as if nothing had been cut: the batch
    # size doubles after each one stored (a cut is no reason to shrink it)
    expected, first, size = [], 1, batch
    while first <= INTAKES:
        expected.append((first, min(first + size - 1, INTAKES)))
        first, size = first + size, size * 2
    assert batches == expected


def test_a_resume_cut_in_its_turn_is_resumed_again_and_the_batch_is_stored_once_whole(link):
    central, node, proxy = link
    node.intake(INTAKES)
    pending = node.events()
    proxy.set(down=False, bandwidth=4_000)  # slow enough to cut the resume too while it uploads
    wait_until(lambda: uploading(proxy, body=200) is not None, timeout=30)
    first_cut = uploading(proxy, body=200)
    proxy.cut_all()
    path = wire_resume_path(first_cut)
    wait_until(lambda: uploading(proxy, path, body=200) is not None, timeout=30)
    second_cut = uploading(proxy, path, body=200)
    proxy.cut_all()
    proxy.set(bandwidth=0)
    wait_until(lambda: len(central.events(AGENCY)) == INTAKES, timeout=60)

    assert central.events(AGENCY) == pending
    batches = central_batches(central, AGENCY)
    assert batches[0] == (1, 200) and [b[0] for b in batches] == [1] + [b[1] + 1 for b in batches[:-1]]
    resumes = [e for e in proxy.requests if e["method"] == "POST" and "/resume/" in e["path"]]
    assert resumes[0] is second_cut and len({e["path"] for e in resumes}) == 1  # one upload, resumed twice
    done = resumes[-1]
    assert done["down"] and header(done, "X-Motcua-Offset") > header(second_cut, "X-Motcua-Offset")  # it kept
    # what reached it of the cut resume too; the whole batch crossed about once, not twice
    body = header(first_cut, "Content-Length")
    assert sum(e["up"] - head_length(e) for e in [first_cut, *resumes]) < body + 2 * proxy.CHUNK


def test_a_cut_push_central_forgot_in_a_restart_goes_again_whole_and_is_stored_once(link):
    central, node, proxy = link
    node.intake(INTAKES)
    pending = node.events()
    proxy.set(down=False, bandwidth=4_000)
    wait_until(lambda: uploading(proxy) is not None, timeout=30)
    cut = uploading(proxy)
    proxy.set(down=True)  # the link dies mid-batch and stays down while central restarts
    proxy.cut_all()
    central.stop()
    central.start()
    proxy.set(down=False, bandwidth=0)
    wait_until(lambda: len(central.events(AGENCY)) == INTAKES, timeout=60)

    assert central.events(AGENCY) == pending
    batches = central_batches(central, AGENCY)
    assert [b[0] for b in batches] == [1] + [b[1] + 1 for b in batches[:-1]]  # contiguous, none twice
    after = proxy.requests[proxy.requests.index(cut) + 1:]
    probe = next((e for e in after if e["method"] == "GET"), None)
    assert probe is not None, [(e["method"], e["path"], e["up"], e["delivered"], e["down"]) for e in proxy.requests]
    assert "/sync/resume/" in probe["path"] and b" 404 " in probe["down_head"]  # central holds none of it
    again = after[after.index(probe) + 1]
    assert again["path"].endswith("/push") and again["up"] > HELLO_MAX  # so the batch went again, whole


@pytest.mark.parametrize("link", ["keeps_nothing"], indirect=True)
def test_a_cut_while_a_batch_uploads_resends_less_than_the_batch_and_no_hello(link):
    central, node, proxy = link
    node.intake(INTAKES)
    pending = node.events()
    assert len(pending) == INTAKES
    batch = int(node.sync_value("batch_size") or 200)
    proxy.set(down=False, bandwidth=16_000)  # a batch of events takes about a second to go up
    wait_until(lambda: any(e["up"] > HELLO_MAX and not e["down"] for e in proxy.requests), timeout=30)
    cut = proxy.cut_uploading()
    assert cut and cut["up"] > HELLO_MAX, proxy.requests
    at = proxy.requests.index(cut)
    proxy.set(bandwidth=0)
    wait_until(lambda: len(central.events(AGENCY)) == INTAKES, timeout=60)

    assert central.events(AGENCY) == pending  # every event once, the node's own hashes, nothing else
    batches = central_batches(central, AGENCY)
    assert [b[0] for b in batches] == [1] + [b[1] + 1 for b in batches[:-1]]  # contiguous, none twice
    after = [e for e in proxy.requests[at + 1:] if e["path"].endswith("/push")]
    assert after and after[0]["up"] > HELLO_MAX, after  # the batch went again at once, no hello first
    # the cut batch: the node's batch size then (doubled after each batch stored before the cut)
    stored = sum(1 for e in proxy.requests[:at] if e["path"].endswith("/push") and e["up"] > HELLO_MAX and e["down"])
    first, last = batches[stored]
    cut_events = min(batch * 2 ** stored, INTAKES - first + 1)
    assert last - first + 1 < cut_events, (batches, batch, stored)  # sent again: less than the cut batch


def test_a_link_that_stays_down_halves_the_batch_at_most_once(link):
    central, node, proxy = link
    proxy.set(down=False)
    wait_until(lambda: node.sync_value("last_success_at") is not None, timeout=30)  # the first hello
    proxy.set(down=True)
    node.intake(5)  # the first wakes the worker: its batch is cut (halved), then retries and hellos fail
    connections = proxy.connections
    wait_until(lambda: proxy.connections >= connections + 4, timeout=30)
    assert int(node.sync_value("batch_size") or 200) >= 100  # START_BATCH 200, halved at most once
    proxy.set(down=False)
    wait_until(lambda: len(central.events(AGENCY)) == 5, timeout=30)
    assert central.events(AGENCY) == node.events()


def test_a_batch_whose_reply_was_lost_goes_again_and_central_stores_nothing_twice(link):
    central, node, proxy = link
    node.intake(INTAKES)
    pending = node.events()
    proxy.lose_reply = True
    proxy.set(down=False)
    wait_until(lambda: len(central.events(AGENCY)) == INTAKES, timeout=60)
    wait_until(lambda: int(node.sync_value("acked_seq") or 0) == INTAKES, timeout=30)

    lost = next(e for e in proxy.requests if e["cut"])
    assert lost["up"] > HELLO_MAX  # a batch of events, stored at central, its reply cut on the way back
    assert central.events(AGENCY) == pending  # every event once
    batches = central_batches(central, AGENCY)
    assert [b[0] for b in batches] == [1] + [b[1] + 1 for b in batches[:-1]]  # no batch stored twice
    after = [e for e in proxy.requests[proxy.requests.index(lost) + 1:] if e["path"].endswith("/push")]
    assert after[0]["up"] > HELLO_MAX  # small batch: sent again at once, central counted it as duplicates


# --- mixed releases: resumable pushes arrived in one release; nodes and centrals upgrade one by one ---

BEFORE_RESUME = "fc5b09c"  # main before central kept cut pushes


@pytest.fixture(scope="module")
def before_resume(tmp_path_factory):
    target = release_checkout(tmp_path_factory.mktemp("release-fc5b09c"), BEFORE_RESUME)
    assert not (target / "central" / "cut_pushes.py").exists()
    return target


@pytest.mark.parametrize("older", ["central", "node"])
def test_a_cut_between_a_release_with_resumable_pushes_and_one_without_loses_nothing(tmp_path, before_resume,
                                                                                    older):
    central = Central(tmp_path, code=before_resume if older == "central" else ROOT).start()
    proxy = RecordingProxy(central.port).start()
    node = Node(tmp_path, agency=AGENCY, code=before_resume if older == "node" else ROOT)
    try:
        node.configure(sync_interval_seconds=60, sync_heartbeat_seconds=600)
        node.enroll(proxy.url, central.add_node(AGENCY))
        node.start()
        wait_until(lambda: node.sync_value("last_success_at") is not None, timeout=30)  # a hello: versions said
        # the intakes queue while the link is down (while it is up, a fast machine can push them in batches
        # too small to be caught uploading), then the link comes back slow
        proxy.set(down=True)
        node.intake(INTAKES)
        pending = node.events()
        proxy.set(down=False, bandwidth=4_000)
        wait_until(lambda: uploading(proxy) is not None, timeout=30)
        cut = uploading(proxy)
        proxy.cut_all()
        proxy.set(bandwidth=0)
        wait_until(lambda: len(central.events(AGENCY)) == INTAKES, timeout=60)

        assert central.events(AGENCY) == pending  # every event once, whichever side is older
        batches = central_batches(central, AGENCY)
        assert [b[0] for b in batches] == [1] + [b[1] + 1 for b in batches[:-1]]
        after = proxy.requests[proxy.requests.index(cut) + 1:]
        assert not any("/resume/" in e["path"] for e in after)  # one side does not know resuming
        # the batch went again (a push, not a hello first; its size is the older side's policy: halved by a
        # node before resumable pushes, whose batches while the link was down had halved already)
        assert after[0]["path"].endswith("/push"), after[:3]
    finally:
        node.stop()
        proxy.stop()
        central.stop()
