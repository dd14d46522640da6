"""The blob lane under faults on the path (issue 11): a cut mid-chunk resumes from what central staged;
chunks damaged on the way are refused and only a sound blob is stored. Real processes, a real proxy."""
from __future__ import annotations

import re

from tests.conftest import wait_until
from tests.e2e.bloblink import AGENCY, attach, central_blobs, node_outbox, photo, sent_bytes, setup, staged, verify_all
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import login


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


