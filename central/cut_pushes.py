"""Pushes cut on their way: the bytes that reached central before the link reset, kept so the node
sends only the rest (protocol/sync.py, RESUME).

Waitress buffers a request body whole before the app sees it; when the connection dies mid-body,
``appshell.web``'s channel hands what arrived to ``CutPushes.keep``. Nothing kept here is trusted:
it is bytes and the cut request's headers, nothing is parsed, and a body is ingested only once it
is whole, through the same checks as any push (its own signatures over the whole body).

Held in the serving process's memory, bounded three ways: one upload per node (a newer cut
replaces it), ``ttl`` seconds, and ``cap`` bytes in all (the oldest go first; 0 keeps nothing).
A restart forgets them: the node then sends the batch again, as it would without this.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from protocol import sync as wire
from protocol import wire2
from protocol.envelope import NODE_HEADER, SIGNATURE_HEADER


def _waitress_name(header: str) -> str:
    return header.upper().replace("-", "_")


# the cut request's headers kept with its bytes (what ingesting it needs), as waitress names them
KEPT_HEADERS = {_waitress_name(h): h for h in (SIGNATURE_HEADER, wire2.BATCH_SIGNATURE_HEADER, "Content-Encoding")}
CUT_PUSHES = "motcua.cut_pushes"  # app.extensions key
NODE_KEY = _waitress_name(NODE_HEADER)
OFFSET_KEY = _waitress_name(wire.OFFSET_HEADER)


@dataclass
class Upload:
    node: str
    upload: str
    length: int
    headers: dict  # HTTP header name -> value, of the cut push
    data: bytearray = field(default_factory=bytearray)
    touched: float = 0.0


class CutPushes:
    def __init__(self, cap: int, max_body: int, ttl: float = 3600, clock=time.monotonic):
        self.cap, self.max_body, self.ttl, self.clock = cap, max_body, ttl, clock
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}  # node -> its one cut upload

    def keep(self, path: str, headers: dict, read, length: int | None) -> None:
        """Waitress's hook (appshell.web): ``read()`` gives the part of a request body that arrived
        before the cut; read only for a push or a resume (a cut document chunk is not copied)."""
        node = headers.get(NODE_KEY)
        if not self.cap or not node or not length or length > self.max_body or len(node) > 64:
            return
        if path == wire.PUSH:
            signature = headers.get(_waitress_name(SIGNATURE_HEADER))
            if not signature:
                return
            kept = {name: headers[key] for key, name in KEPT_HEADERS.items() if key in headers}
            self._put(Upload(node, wire.upload_id(signature), length, kept, bytearray(read())))
        elif path.startswith(wire.RESUME):  # a resume cut in its turn: append what continues the copy
            try:
                offset = int(headers.get(OFFSET_KEY, ""))
            except ValueError:
                return
            self.append(node, path[len(wire.RESUME):], offset, read())

    def _put(self, upload: Upload) -> None:
        with self._lock:
            upload.touched = self.clock()
            self._uploads.pop(upload.node, None)
            self._uploads[upload.node] = upload  # newest last: eviction takes the oldest first
            self._trim()

    def _trim(self) -> None:
        now = self.clock()
        for node, upload in list(self._uploads.items()):
            if now - upload.touched > self.ttl:
                del self._uploads[node]
        total = sum(len(u.data) for u in self._uploads.values())
        while total > self.cap and self._uploads:
            oldest = min(self._uploads.values(), key=lambda u: u.touched)
            total -= len(oldest.data)
            del self._uploads[oldest.node]

    def held(self, node: str, upload: str) -> Upload | None:
        with self._lock:
            self._trim()
            found = self._uploads.get(node)
            return found if found is not None and found.upload == upload else None

    def append(self, node: str, upload: str, offset: int, data: bytes) -> Upload | None:
        """Add ``data`` (the body from ``offset`` on) to the copy; None when nothing is held or the
        offset is past its end. Bytes before the copy's end are skipped (already held)."""
        with self._lock:
            found = self._uploads.get(node)
            if found is None or found.upload != upload or offset < 0 or offset > len(found.data):
                return None
            found.data += data[len(found.data) - offset:]
            del found.data[found.length:]
            found.touched = self.clock()
            self._trim()
            return found

    def take_whole(self, node: str, upload: str) -> Upload | None:
        """The upload once its body is whole, forgotten here: one caller gets it, to ingest."""
        with self._lock:
            found = self._uploads.get(node)
            if found is None or found.upload != upload or len(found.data) < found.length:
                return None
            del self._uploads[node]
            return found
