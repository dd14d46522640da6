"""HTTP to central: seal each request with the node key, verify each reply with central's pinned key."""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from datetime import datetime

import requests
from urllib3.util import SKIP_HEADER

from protocol import sync as wire
from protocol import wire2
from protocol.canonical import canonical_json
from protocol.envelope import MAX_BODY, NODE_HEADER, SIGNATURE_HEADER, EnvelopeError, open_sealed, seal
from protocol.keys import sign

from .clock import local_now


class SyncError(Exception):
    """A failed exchange. ``message`` is plain Vietnamese for clerks; str() is English for logs."""

    def __init__(self, kind: str, message: str, detail: str, retry: bool = True, reply: dict | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.message, self.retry, self.reply = kind, message, retry, reply
        # a request cut or timed out after its whole body had left this PC: central may hold it (only
        # its reply was lost); ``body_bytes`` is that body's size. False: central cannot have it whole.
        self.sent_whole = False
        self.body_bytes = 0
        self.upload: CutUpload | None = None  # a push cut on its way, to resume (CentralClient.resume)
        self.resumable = False  # central keeps the part of it that arrived (node.sync.push says)
        self.answered = False  # central answered an exchange of this attempt before it failed


MESSAGES = {
    "offline": "Không kết nối được máy chủ cấp trên (mất mạng?). Máy sẽ tự thử lại.",
    "dropped": "Đường truyền bị ngắt giữa chừng. Máy sẽ tự gửi tiếp phần còn lại khi có mạng.",
    "timeout": "Máy chủ cấp trên phản hồi quá chậm. Máy sẽ tự thử lại.",
    "server": "Máy chủ cấp trên đang gặp lỗi. Máy sẽ tự thử lại.",
    "too_large": "Gói dữ liệu quá lớn với đường truyền; máy sẽ gửi gói nhỏ hơn.",
    "bad_reply": "Phản hồi từ máy chủ cấp trên không hợp lệ hoặc không có chữ ký đúng — đã bỏ qua.",
    "revoked": "Khóa của máy này đã bị cấp trên thu hồi. Liên hệ cán bộ kỹ thuật.",
    "unknown_node": "Cấp trên không nhận ra máy này. Liên hệ cán bộ kỹ thuật để đăng ký lại.",
    "bad_signature": "Cấp trên từ chối chữ ký của máy này. Liên hệ cán bộ kỹ thuật.",
    "fork": "Nhật ký của máy này không khớp với cấp trên (có thể đã khôi phục từ bản sao lưu cũ). "
            "Cán bộ kỹ thuật cần chạy lệnh motcua-node recover.",
    "feed": "Dữ liệu nhận từ cấp trên không hợp lệ (sai chuỗi hoặc phiên bản cũ hơn) — đã từ chối.",
    "feed_diverged": "Dữ liệu cấp trên gửi xuống không còn khớp với dữ liệu máy này đã nhận (máy chủ cấp trên "
                     "có thể đã được khôi phục từ bản sao lưu cũ). Hồ sơ không bị mất; tạm dừng nhận dữ liệu từ "
                     "cấp trên. Cán bộ kỹ thuật cần chạy lệnh motcua-node resync-feed.",
    "not_enrolled": "Máy chưa được đăng ký với cấp trên (motcua-node enroll).",
    "refused": "Cấp trên từ chối yêu cầu đồng bộ.",
}


def fail(kind: str, detail: str, retry: bool = True, reply: dict | None = None) -> SyncError:
    return SyncError(kind, MESSAGES[kind], detail, retry, reply)


def _connection_failure_kind(exc: Exception) -> str:
    """offline: no connection could be made; timeout: the peer went quiet; dropped: cut mid-exchange."""
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "failed to establish" in text or "connection refused" in text or "name or service" in text:
        return "offline"
    return "dropped"


def _lost(exc: SyncError, stream: io.BytesIO, body: bytes) -> SyncError:
    """Say whether the failed request's body had left this PC whole (read to its end by the sender)."""
    try:
        exc.sent_whole = stream.tell() >= len(body) > 0
    except ValueError:  # closed by the HTTP library: it was read to the end
        exc.sent_whole = len(body) > 0
    exc.body_bytes = len(body)
    return exc


@dataclass
class Reply:
    status: int
    payload: dict
    clock_offset_seconds: int


@dataclass
class CutUpload:
    """A push whose exchange failed before its reply came: what resuming it needs (protocol/sync.py
    RESUME). ``first_seq``/``count``: its events; ``sent_whole``: its body had left this PC whole."""
    upload: str
    body: bytes
    nonce: str
    v2: bool
    first_seq: int
    count: int
    sent_whole: bool = False


def _held(response, raw: bytes) -> tuple[int, int] | None:
    """(offset, length) from central's plain answer about a cut push it holds part of, else None."""
    if response.status_code not in (200, 202, 409):
        return None
    try:
        said = json.loads(raw)
        offset, length = said["offset"], said["length"]
    except (ValueError, TypeError, KeyError):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, length)):
        return None
    return offset, length


class CentralClient:
    def __init__(self, base_url: str, node_id: str, private_key, central_public_key, *,
                 connect_timeout: float = 10, read_timeout: float = 60, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.node_id = node_id
        self.private_key = private_key
        self.central_public_key = central_public_key
        self.timeout = (connect_timeout, read_timeout)
        if session is None:  # a metered link: no headers central does not read
            session = requests.Session()
            session.headers.clear()
            session.headers["User-Agent"] = "motcua-node"
            session.headers["Accept-Encoding"] = SKIP_HEADER  # not "identity" on every request: 28 B
        self.session = session
        self.bytes_sent = 0
        self.wire: dict | None = None  # what central last said about wire formats ({"accepts", "prefers"})

    def call(self, path: str, payload: dict, *, v2: bool = False) -> Reply:
        """Seal and send ``payload``; ``v2``: a push in wire format v2 (protocol/wire2.py)."""
        payload = dict(payload, node=self.node_id, nonce=wire.nonce(), sent_at=local_now().isoformat())
        if v2:
            batch_signature = sign(self.private_key, canonical_json(payload))
            raw = canonical_json(dict(payload, v=wire2.VERSION,
                                      events=wire2.encode_events(payload["events"], self.node_id)))
            body, signature = wire2.compress(raw), sign(self.private_key, raw)
            headers = {"Content-Type": "application/json", "Content-Encoding": wire2.ENCODING,
                       NODE_HEADER: self.node_id, SIGNATURE_HEADER: signature,
                       wire2.BATCH_SIGNATURE_HEADER: batch_signature}
        else:
            body, signature = seal(self.private_key, payload)
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                       NODE_HEADER: self.node_id, SIGNATURE_HEADER: signature}
        started = time.time()
        try:
            response, raw = self._post(path, body, headers)
        except SyncError as exc:
            if path == wire.PUSH and payload.get("events"):  # kept: central may hold part of it
                exc.upload = CutUpload(wire.upload_id(headers[SIGNATURE_HEADER]), body, payload["nonce"], v2,
                                       payload["events"][0]["seq"], len(payload["events"]), exc.sent_whole)
            raise
        self.bytes_sent += len(body)
        return self._sealed_reply(path, response, raw, payload["nonce"], started)

    def _sealed_reply(self, path: str, response, raw: bytes, nonce: str, started: float) -> Reply:
        """Central's verified reply, what it said of wire formats, and the clock offset it shows."""
        finished = time.time()
        reply = self._open_reply(path, response, raw, nonce)
        self.wire = reply.get("wire") if isinstance(reply.get("wire"), dict) else None
        offset = 0
        if isinstance(reply.get("central_time"), str):
            try:
                central = datetime.fromisoformat(reply["central_time"]).timestamp()
                local_mid = local_now().timestamp() - (time.time() - (started + finished) / 2)
                offset = round(central - local_mid)
            except ValueError:
                pass
        return Reply(response.status_code, reply, offset)

    def resume(self, cut: CutUpload) -> Reply | None:
        """Send the rest of a cut push: ask where central's copy ends, then the bytes from there on.

        The push's reply (sealed, answering its nonce), or None when central holds none of it (the
        batch then goes again whole). A failure here keeps ``cut`` on the error, to resume again."""
        path = wire.RESUME + cut.upload
        headers = {NODE_HEADER: self.node_id}
        answered = False
        try:
            response, raw = self._post(path, None, headers, method="GET")
            answered = True
            for _ in range(2):  # a 409 says where the copy ends after all: once more from there
                held = _held(response, raw)
                if held is None or not 0 <= held[0] < held[1] == len(cut.body):
                    return None
                offset = held[0]
                started = time.time()
                response, raw = self._post(path, cut.body[offset:],
                                           dict(headers, **{wire.OFFSET_HEADER: str(offset)}))
                self.bytes_sent += len(cut.body) - offset
                if response.headers.get(SIGNATURE_HEADER):  # whole: central's reply to the push
                    return self._sealed_reply(wire.PUSH, response, raw, cut.nonce, started)
        except SyncError as exc:
            exc.upload, exc.answered = cut, answered
            raise
        return None

    def send_chunk(self, path: str, meta: dict, data: bytes) -> Reply:
        """POST one blob chunk as a raw body (protocol/blobsync.py): ``meta`` travels as the signed
        canonical-JSON header; the reply is sealed and verified like every other."""
        from protocol import blobsync
        meta = dict(meta, node=self.node_id, nonce=wire.nonce(), sent_at=local_now().isoformat())
        raw_meta = blobsync.encode_meta(meta)
        headers = {"Content-Type": "application/octet-stream", NODE_HEADER: self.node_id,
                   SIGNATURE_HEADER: sign(self.private_key, raw_meta), blobsync.CHUNK_HEADER: raw_meta.decode("ascii")}
        response, raw = self._post(path, data, headers)
        self.bytes_sent += len(data) + len(raw_meta)
        return Reply(response.status_code, self._open_reply(path, response, raw, meta["nonce"]), 0)

    def _post(self, path: str, body: bytes | None, headers: dict, method: str = "POST"):
        """POST ``body`` (GET: none); (response, raw reply bytes). A failure says whether the body had left whole."""
        body = body or b""
        stream = io.BytesIO(body)
        try:
            # a file-like body is sent block by block, each block under the read timeout; a bytes body
            # would have to be sent whole within the connect timeout (too short for 200 kB on 2G)
            response = self.session.request(method, self.base_url + path, data=stream if body else None,
                                            headers=headers, timeout=self.timeout, stream=True)
            try:
                raw = response.raw.read(MAX_BODY + 1, decode_content=False)
            finally:
                response.close()
        except requests.exceptions.ConnectTimeout as exc:
            raise fail("offline", f"connect timeout to {self.base_url}: {exc}") from None
        except requests.exceptions.ConnectionError as exc:
            raise _lost(fail(_connection_failure_kind(exc), f"{path}: {type(exc).__name__}: {exc}"[:300]),
                        stream, body) from None
        except requests.exceptions.Timeout:
            raise _lost(fail("timeout", f"{path}: read timeout"), stream, body) from None
        except requests.exceptions.RequestException as exc:
            raise fail("offline", f"{path}: {type(exc).__name__}") from None
        return response, raw

    def _open_reply(self, path: str, response, raw: bytes, nonce: str) -> dict:
        """Central's sealed reply to the request ``nonce``, verified (signature, request, node)."""
        signature = response.headers.get(SIGNATURE_HEADER)
        if not signature:
            if response.status_code >= 500:
                raise fail("server", f"{path}: HTTP {response.status_code} without signature")
            if response.status_code == 413:
                raise fail("too_large", f"{path}: HTTP 413 from a proxy")
            raise fail("bad_reply", f"{path}: HTTP {response.status_code} without a signature")
        try:
            reply = open_sealed(raw, signature, self.central_public_key)
        except EnvelopeError as exc:
            raise fail("bad_reply", f"{path}: {exc}") from None
        if reply.get("request") != nonce:
            raise fail("bad_reply", f"{path}: reply answers another request (replayed or rolled back)")
        if reply.get("node") not in (None, self.node_id):
            raise fail("bad_reply", f"{path}: reply is for node {reply.get('node')!r}")
        return reply
