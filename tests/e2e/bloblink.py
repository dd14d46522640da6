"""Helpers of the blob lane's end-to-end tests and bench/documents_link.py: real central and node
processes behind a fault proxy, photos attached through the node's API, what each side holds, and
the chunk bytes a node puts on the link."""
from __future__ import annotations

import functools
import re
from pathlib import Path

import requests

from protocol import blobobject
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import Central, Node
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


