"""The blob lane end to end (issue 11): real motcua-central and motcua-node processes, a real fault
proxy between them, phone photos attached through the node's API and normalised there.

What is checked is what the issue promises: events first, blobs once, resumable after cuts and
kills, corrupt bytes never stored. Figures (goodput, ratios) are bench/documents_link.py's job.
"""
from __future__ import annotations

import asyncio
import functools
import random
import re
import time
from pathlib import Path

import pytest
import requests

from node import blob_outbox
from protocol import blobobject
from tests.conftest import wait_until
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import Central, Node, login
from tests.node import document_samples as samples

AGENCY = "000.00.06.H56"
OTHER = "000.00.06.H57"
LANE = {"blob_share_office_hours": 100}  # the tests run at any hour: pacing has its own unit test


@functools.lru_cache(maxsize=64)
def photo(seed: int, full: bool = False) -> bytes:
    """A phone photo of a page: ``full`` 12 MP (about 2.4 MB before the node normalises it, as in the
    issue's acceptance), else 3 MP (quicker to make; normalised to about 100 kB)."""
    size = {} if full else {"width": 2000, "height": 1500}
    return samples.phone_photo(seed=seed, colour=bool(seed % 2), **size)


def attach(node: Node, code: str, data: bytes, name: str = "trang.jpg") -> dict:
    r = requests.post(f"{node.url}/api/v1/dossiers/{code}/attachments",
                      headers={"Authorization": f"Bearer {node.token}"}, data={"component": "0"},
                      files={"file": (name, data)}, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def central_blobs(central: Central) -> dict[str, tuple]:
    conn = central.db()
    try:
        return {r["hash"]: (r["size"], r["node"], r["source"], r["stored_at"])
                for r in conn.execute("SELECT hash, size, node, source, stored_at FROM blobs")}
    finally:
        conn.close()


def node_outbox(node: Node) -> dict[str, tuple]:
    conn = node.db()
    try:
        return {r["hash"]: (r["state"], r["via"], r["size"], r["acked"])
                for r in conn.execute("SELECT hash, state, via, size, acked FROM blob_sync")}
    finally:
        conn.close()


def staged(central: Central) -> int:
    folder = central.dir / "blobs" / "staging"
    return sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0


def verify_all(central: Central, digests) -> None:
    """Every object central holds opens with central's key and hashes to its address."""
    from central import keys
    key = keys.load(central.dir)
    for digest in digests:
        blobobject.verify((central.dir / "blobs" / digest[:2] / digest).read_bytes(), digest, key)


def sent_bytes(node: Node) -> int:
    return int(node.sync_value("blob_bytes_sent") or 0)


def stored_log_lines(central: Central) -> int:
    return (central.dir.parent / "central.log").read_text(errors="replace").count(" stored from ")


def setup(tmp_path: Path, proxy_cls=FaultProxy, nodes=(AGENCY,), **link):
    central = Central(tmp_path)
    codes = {agency: central.add_node(agency) for agency in nodes}
    central.start()
    proxy = proxy_cls(central.port, **link).start()
    made = []
    for agency in nodes:
        node = Node(tmp_path, agency, name=f"node-{agency[-3:]}")
        node.configure(**LANE)
        node.enroll(proxy.url, codes[agency])
        made.append(node)
    return central, proxy, made


def test_every_event_reaches_central_before_any_blob_and_a_reused_page_crosses_once(tmp_path):
    central, proxy, (node,) = setup(tmp_path)
    try:
        proxy.set(down=True)  # the clerk works offline: dossiers, scans, more events
        node.start()
        codes = node.intake(6)
        hashes = [attach(node, code, photo(i % 5))["hash"] for i, code in enumerate(codes)]
        assert hashes[5] == hashes[0] and len(set(hashes)) == 5  # the sixth dossier reuses the first page
        for code in codes:
            node.act(code, "start", handler="lan")
        outbox = node_outbox(node)
        assert len(outbox) == 5 and {s for s, *_ in outbox.values()} == {"queued"}
        bar = login(node.url).get(node.url + "/", timeout=10).text  # the clerk's status bar
        conn = node.db()
        waiting = blob_outbox.backlog(conn).bytes
        conn.close()
        mb = f"{waiting / 1e6:.1f}".replace(".", ",")
        assert f'id="blob-files">5</strong> tệp (<strong id="blob-mb">{mb}</strong> MB)' in bar, \
            bar[bar.find('id="blob-backlog"'):][:300]
        proxy.heal()
        wait_until(lambda: len(central_blobs(central)) == 5, 120, message="five blobs at central")
        conn = central.db()
        last_event = conn.execute("SELECT max(received_at) FROM events").fetchone()[0]
        events_at_central = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.close()
        held = central_blobs(central)
        assert events_at_central == len(node.events())
        assert last_event <= min(stored_at for *_, stored_at in held.values())  # events first, always
        assert {(n, src) for _, n, src, _ in held.values()} == {(AGENCY, "link")}
        verify_all(central, held)
        wait_until(lambda: all(s == "held" for s, *_ in node_outbox(node).values()), 20, message="node marks held")
        assert {v for _, v, *_ in node_outbox(node).values()} == {"link"}
        total = sum(size for size, *_ in held.values())
        assert sent_bytes(node) == total  # the reused page crossed once, nothing was sent twice
        assert stored_log_lines(central) == 5
    finally:
        node.stop()
        proxy.stop()
        central.stop()


def test_a_blob_central_already_holds_from_another_node_never_crosses_the_link_again(tmp_path):
    central, proxy, (first, second) = setup(tmp_path, nodes=(AGENCY, OTHER))
    try:
        first.start()
        code = first.intake(1)[0]
        digest = attach(first, code, photo(7))["hash"]
        wait_until(lambda: digest in central_blobs(central), 120, message="first node's upload")
        second.start()
        other = second.intake(1)[0]
        assert attach(second, other, photo(7))["hash"] == digest  # the same citizen's same page
        wait_until(lambda: node_outbox(second).get(digest, ("",))[0] == "held", 60, message="dedup by have")
        assert node_outbox(second)[digest][1] == "dedup"
        assert sent_bytes(second) == 0 and sent_bytes(first) == central_blobs(central)[digest][0]
        assert central_blobs(central)[digest][1] == AGENCY and len(central_blobs(central)) == 1
        session = login(central.url, "admin", "Admin-pass-2026")

        def shown() -> str:
            page = session.get(f"{central.url}/don-vi/{OTHER}", timeout=10).text
            return page[page.index('id="blob-backlog"'):].split("</dd>")[0]
        wait_until(lambda: "0 tệp, 0 MB" in shown(), 20, message="the second node's backlog, emptied, on its page")
    finally:
        second.stop()
        first.stop()
        proxy.stop()
        central.stop()


def test_an_upload_cut_mid_chunk_resumes_from_the_bytes_central_staged(tmp_path):
    central, proxy, (node,) = setup(tmp_path)
    try:
        proxy.set(bandwidth=40_000)
        node.start()
        code = node.intake(1)[0]
        digest = attach(node, code, photo(3))["hash"]
        size = node_outbox(node)[digest][2] or 0
        wait_until(lambda: staged(central) >= 20_000, 60, message="part of the blob staged")
        page = login(central.url, "admin", "Admin-pass-2026").get(f"{central.url}/don-vi/{AGENCY}", timeout=10).text
        shown = page[page.index('id="blob-backlog"'):].split("</dd>")[0]
        assert re.search(r"1 tệp, 0,\d MB; tệp cũ nhất chưa gửi từ \d\d:\d\d", shown), shown
        before_cut, sent_before = staged(central), sent_bytes(node)
        proxy.cut_all()
        wait_until(lambda: digest in central_blobs(central), 120, message="blob completed after the cut")
        size = central_blobs(central)[digest][0]
        verify_all(central, [digest])
        # after the cut only what central did not have crossed again (plus the chunk the cut lost)
        assert sent_bytes(node) - sent_before <= size - before_cut
        assert sent_bytes(node) < size + (sent_before - before_cut) + 1
        assert staged(central) == 0
    finally:
        node.stop()
        proxy.stop()
        central.stop()


class ChunkTamperer(FaultProxy):
    """A forger on the path: flips one byte in the body of the next ``flips`` chunk uploads."""

    def __init__(self, target_port: int, flips: int = 2):
        super().__init__(target_port)
        self.flips = flips
        self.flipped = 0

    async def _pipe(self, reader, writer, direction, budget):
        if direction == "up":
            reader = _Flipper(reader, self)
        return await super()._pipe(reader, writer, direction, budget)


class _Flipper:
    def __init__(self, reader, proxy: ChunkTamperer):
        self.reader, self.proxy, self.pending = reader, proxy, False

    async def read(self, n: int) -> bytes:
        data = await self.reader.read(n)
        if self.proxy.flipped >= self.proxy.flips or not data:
            return data
        start = None
        if b"POST /api/v1/sync/blobs/chunk" in data:
            end = data.find(b"\r\n\r\n", data.index(b"POST /api/v1/sync/blobs/chunk"))
            if end >= 0:
                start = end + 4
                self.pending = start >= len(data)
                if self.pending:
                    return data
        elif self.pending:
            start, self.pending = 0, False
        if start is not None and start < len(data):
            i = min(len(data) - 1, start + 100)
            data = data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1:]
            self.proxy.flipped += 1
        return data


def test_chunks_damaged_on_the_path_are_refused_and_the_blob_is_stored_only_sound(tmp_path):
    central, proxy, (node,) = setup(tmp_path, proxy_cls=ChunkTamperer)
    try:
        node.start()
        code = node.intake(1)[0]
        digest = attach(node, code, photo(4))["hash"]
        wait_until(lambda: digest in central_blobs(central), 120, message="blob stored after the damage")
        assert proxy.flipped == 2
        verify_all(central, [digest])
        text = (tmp_path / "central.log").read_text(errors="replace")
        assert text.count("refused: bad_chunk") == 2 and text.count(" stored from ") == 1
    finally:
        node.stop()
        proxy.stop()
        central.stop()


def kill_and_restart(server_owner, tmp_path) -> None:
    server_owner.server.kill()
    server_owner.start()


@pytest.mark.slow
def test_killing_the_node_and_central_mid_upload_loses_no_blob_and_sends_none_twice(tmp_path):
    central, proxy, (node,) = setup(tmp_path)
    kills = 4
    try:
        node.configure(blob_chunk_seconds=1)  # chunks of about one second of the link: kills land mid-blob
        proxy.set(bandwidth=60_000)
        node.start()
        codes = node.intake(4)
        hashes = {attach(node, code, photo(10 + i))["hash"] for i, code in enumerate(codes)}
        rng = random.Random(5)
        for i in range(2 * kills):
            progress = staged(central) + sum(s for s, *_ in central_blobs(central).values())
            wait_until(lambda p=progress: staged(central) + sum(s for s, *_ in central_blobs(central).values())
                       > p + 10_000, 120, message="upload progress")
            time.sleep(rng.uniform(0, 0.5))
            if i % 2:
                central.server.kill()
                central.start()
            else:
                node.server.kill()
                node.start()
        wait_until(lambda: set(central_blobs(central)) == hashes, 180, message="every blob at central")
        held = central_blobs(central)
        verify_all(central, hashes)
        total = sum(size for size, *_ in held.values())
        # each kill loses at most the one chunk in flight (about a second of the link, 60 kB)
        assert total <= sent_bytes(node) <= total + 2 * kills * 64 * 1024
        assert stored_log_lines(central) == len(hashes) and staged(central) == 0
    finally:
        node.stop()
        proxy.stop()
        central.stop()


class ChunkBodies:
    """Counts the body bytes of blob chunk requests as a proxy forwards them upstream: what crossed the
    link, a body cut by a reset as far as it got (bench/documents_link.py uses it too)."""

    PATH = b"POST /api/v1/sync/blobs/chunk"

    def __init__(self):
        self.bytes = 0
        self.requests = 0

    def wrap(self, writer) -> _CountingWriter:
        return _CountingWriter(writer, self)


class _CountingWriter:
    def __init__(self, writer, counter: ChunkBodies):
        self.writer, self.counter = writer, counter
        self.head, self.left, self.counting = b"", 0, False
        self.drain, self.close, self.transport = writer.drain, writer.close, writer.transport

    def write(self, data: bytes) -> None:
        self._feed(data)
        self.writer.write(data)

    def _feed(self, data: bytes) -> None:
        while data:
            if self.left:
                take = min(self.left, len(data))
                if self.counting:
                    self.counter.bytes += take
                self.left -= take
                data = data[take:]
                continue
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                self.head = self.head[-16384:]
                return
            headers, data, self.head = self.head[:end], self.head[end + 4:], b""
            length = re.search(rb"(?im)^content-length:\s*(\d+)", headers)
            self.left = int(length.group(1)) if length else 0
            self.counting = headers.startswith(self.counter.PATH)
            self.counter.requests += self.counting


class FieldLink(FaultProxy):
    """The field-link model of bench/sync_field.BadLink at a chosen rate: each direction one serial
    line (a 1 kB piece leaves when the line is free), latency ± jitter, a lost piece holding the line
    for an RTO (TCP delivers in order); plus every connection reset after each ``reset_every`` bytes."""

    def __init__(self, target_port: int, rate: int = 8_000, latency: float = 0.3, jitter: float = 0.05,
                 loss: float = 0.02, reset_every: int = 0, seed: int = 11):
        super().__init__(target_port)
        self.rate, self.latency, self.jitter, self.loss, self.reset_every = rate, latency, jitter, loss, reset_every
        self.rng = random.Random(seed)
        self._line_free = {"up": 0.0, "down": 0.0}
        self._arrival = {"up": 0.0, "down": 0.0}
        self.carried = 0
        self.resets = 0
        self.chunks = ChunkBodies()

    async def _pipe(self, reader, writer, direction, budget):
        if direction == "up":
            writer = self.chunks.wrap(writer)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=16)

        async def take():
            while True:
                data = await reader.read(1024)
                if not data:
                    await queue.put((0.0, b""))
                    return
                leaves = max(loop.time(), self._line_free[direction]) + len(data) / self.rate
                if self.rng.random() < self.loss:
                    leaves += 0.2 + 2 * self.latency
                self._line_free[direction] = leaves
                arrival = max(self._arrival[direction], leaves + self.latency
                              + self.rng.uniform(-self.jitter, self.jitter))
                self._arrival[direction] = arrival
                await queue.put((arrival, data))
        taker = asyncio.ensure_future(take())
        try:
            while True:
                arrival, data = await queue.get()
                if not data:
                    writer.close()
                    return
                delay = arrival - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
                if direction == "up":
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                self.carried += len(data)
                if self.reset_every and self.carried >= self.reset_every:
                    self.carried = 0
                    self.resets += 1
                    for w in list(self._writers):
                        w.transport.abort()
        finally:
            taker.cancel()


@pytest.mark.slow
@pytest.mark.acceptance
def test_the_issue_s_acceptance_scenario_on_a_faster_field_link(tmp_path):
    """30 scans from 2-3 MB phone photos and 300 dossier events; a reset every 50 kB; 10 node kills and
    10 central kills. The link is the field model with its latency, jitter and loss scaled to a tenth
    and its rate raised, so that the ~3,000 small chunks the resets impose end in minutes, not hours."""
    central, proxy, (node,) = setup(tmp_path, proxy_cls=FieldLink, rate=400_000, latency=0.03, jitter=0.005,
                                    reset_every=50_000)
    try:
        proxy.set(down=True)
        node.start()
        codes = node.intake(150)
        hashes = {attach(node, code, photo(i, full=True))["hash"] for i, code in enumerate(codes[:30])}
        for code in codes[:120]:
            node.act(code, "start", handler="lan")
        events = node.events()
        assert len(events) >= 300 and len(hashes) == 30
        proxy.heal()
        rng = random.Random(3)
        for i in range(20):
            done = len(central_blobs(central))
            if done == 30:
                break
            progress = staged(central) + sum(s for s, *_ in central_blobs(central).values())
            wait_until(lambda p=progress: staged(central) + sum(s for s, *_ in central_blobs(central).values())
                       > p + 20_000, 300, message="upload progress")
            time.sleep(rng.uniform(0, 0.3))
            target = central if i % 2 else node
            target.server.kill()
            target.start()
        wait_until(lambda: set(central_blobs(central)) == hashes, 900, message="every blob at central")
        held = central_blobs(central)
        conn = central.db()
        last_event = conn.execute("SELECT max(received_at) FROM events").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(events)
        conn.close()
        assert last_event <= min(stored_at for *_, stored_at in held.values())
        verify_all(central, hashes)
        total = sum(size for size, *_ in held.values())
        resent = proxy.chunks.bytes - total  # chunk bytes that crossed the link beyond the stored objects
        assert proxy.resets > 50
        assert 0 <= resent <= 0.05 * total, (resent, total, proxy.resets)
        # the node's own count takes every chunk it started as sent whole: an upper bound, one chunk a reset
        assert proxy.chunks.bytes <= sent_bytes(node) <= total + (proxy.resets + 20) * 8 * 1024
        assert stored_log_lines(central) == 30 and staged(central) == 0
    finally:
        node.stop()
        proxy.stop()
        central.stop()
