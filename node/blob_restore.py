"""Getting a node's documents back from central, and sending them again when central lost them (issue 11).

Restore (point 8): a node rebuilt after its disk died (``motcua-node enroll`` with a recovery code pulls
its events back, node/recovery.py) has every dossier and its documents' hashes but none of the files.
Each missing file comes back from central:
- on first view (node/views/documents.py calls ``restore_one`` when the file is not on disk), when
  the link is up; otherwise the clerk reads a clear message;
- in the background: ``motcua-node blobs restore`` (once, or ``--loop SECONDS``), or ``RestoreWorker``,
  the loop a running node keeps for it (``motcua-node run`` starts it beside the sync worker): a few
  files every five minutes, so a hand-up never waits behind them; it ends once every file is back.
Central serves a file only to the node whose dossiers name it (central/views/blob_restore.py): it
seals that blob's key to this node's key and sends the stored ciphertext in capped pieces; the node
opens it with node.key, checks the SHA-256 (protocol.blobobject.open_object), stores it with
``BlobStore.put`` under its own blobs.key and marks it held by central (via 'restore').

Requeue: when central lost files (``motcua-central blobs check`` reports them missing or damaged and
``--forget-damaged`` forgot them), ``requeue`` puts this node's copies back in the outbox; the next
``have`` query skips what central still holds and the link sends the rest.
"""
from __future__ import annotations

import base64
import io
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from appshell.sqlite import write_tx
from protocol import blobobject
from protocol.keys import public_b64

from . import blob_outbox
from .blobs import BlobError, BlobStore
from .clock import local_now
from .sync_client import SyncError

log = logging.getLogger("motcua.blob_restore")
PIECE = 512 * 1024
MAX_DATA = 512 * 1024 * 1024

MESSAGES = {
    "offline": "Tệp này chưa có trên máy (máy được khôi phục sau sự cố ổ đĩa) và hiện không kết nối được cấp trên "
               "để lấy lại. Máy sẽ tự lấy lại khi có mạng; có thể thử lại sau.",
    "not_held": "Tệp này chưa có trên máy (máy được khôi phục sau sự cố ổ đĩa) và cấp trên cũng chưa nhận được "
                "tệp. Cần quét lại giấy tờ gốc nếu có.",
    "refused": "Tệp này chưa có trên máy và cấp trên từ chối gửi lại. Liên hệ cán bộ kỹ thuật.",
    "damaged": "Tệp nhận lại từ cấp trên bị hỏng nên đã bỏ qua. Liên hệ cán bộ kỹ thuật.",
    "not_enrolled": "Tệp này chưa có trên máy và máy chưa đăng ký với cấp trên để lấy lại.",
}


class RestoreFailed(Exception):
    """A file that did not come back; ``kind`` picks the clerk's message, str() is English for logs."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind

    @property
    def message(self) -> str:
        return MESSAGES.get(self.kind, MESSAGES["refused"])


def named_documents(conn) -> dict[str, dict]:
    """hash -> {"mime", "size", "pages"} for every document this node's dossiers name (removed ones too)."""
    found: dict[str, dict] = {}
    for row in conn.execute("SELECT json_extract(a.value, '$.hash'), json_extract(a.value, '$.mime'), "
                            "json_extract(a.value, '$.size'), json_extract(a.value, '$.pages') "
                            "FROM dossiers d, json_each(d.doc, '$.attachments') a "
                            "WHERE json_type(a.value, '$.hash') = 'text'"):
        found.setdefault(row[0], {"mime": row[1], "size": row[2], "pages": row[3]})
    return found


def missing(conn, store: BlobStore) -> dict[str, dict]:
    """The documents this node's dossiers name whose file is not on this disk."""
    return {h: meta for h, meta in sorted(named_documents(conn).items()) if not store.exists(h)}


def _thumbnail(data: bytes, mime: str) -> bytes | None:
    if mime != "image/jpeg":
        return None  # a PDF's thumbnail was made from its first scan; the list shows its icon instead
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            thumb = img.convert("RGB")
            thumb.thumbnail((240, 240))
            out = io.BytesIO()
            thumb.save(out, "JPEG", quality=70)
            return out.getvalue()
    except Exception as exc:  # a thumbnail is a convenience: the document itself is restored
        log.warning("no thumbnail for a restored document: %s", type(exc).__name__)
        return None


def install(conn, store: BlobStore, digest: str, data: bytes, meta: dict) -> None:
    """Store a document that came back (durable file first, then one transaction for its rows)."""
    if store.put(data) != digest:
        raise RestoreFailed("damaged", f"blob {digest[:12]} does not match its hash")
    thumb_data = _thumbnail(data, meta.get("mime") or "")
    thumb = store.put(thumb_data) if thumb_data else None
    now = local_now().isoformat()
    with write_tx(conn):
        conn.execute("INSERT OR IGNORE INTO blobs(hash, size, mime, pages, stored_at, thumb) VALUES (?, ?, ?, ?, ?, ?)",
                     (digest, len(data), meta.get("mime") or "application/octet-stream", int(meta.get("pages") or 1),
                      now, thumb))
        if thumb:
            conn.execute("UPDATE blobs SET thumb = ? WHERE hash = ? AND thumb IS NULL", (thumb, digest))
        blob_outbox.queue(conn, digest, now)
        # the file was sealed anew (its own new key): an MCT1 header kept for the old file no longer fits it
        conn.execute("UPDATE blob_sync SET header = NULL, size = NULL WHERE hash = ?", (digest,))
        blob_outbox.mark_held(conn, digest, "restore", now)


def fetch(client, digest: str, piece: int = PIECE) -> bytes:
    """The plaintext of one of this node's documents, from central; checked against its hash."""
    header, data, size = b"", bytearray(), None
    while size is None or len(data) < size:
        try:
            reply = client.call(blobobject.RESTORE_PATH, {"hash": digest, "offset": len(data), "limit": piece,
                                                          "public_key": public_b64(client.private_key)})
        except SyncError as exc:
            raise RestoreFailed("offline" if exc.kind in ("offline", "timeout", "dropped") else "refused",
                                str(exc)) from None
        if reply.status != 200:
            code = (reply.payload.get("error") or {}).get("code", "refused")
            raise RestoreFailed("not_held" if code in ("not_held", "not_named") else
                                "damaged" if code == "damaged" else "refused",
                                f"blob {digest[:12]}: HTTP {reply.status} {code}")
        p = reply.payload
        try:
            header = base64.b64decode(p["header"], validate=True)
            chunk = base64.b64decode(p["data"], validate=True)
            total = p["size"]
        except (KeyError, TypeError, ValueError):
            raise RestoreFailed("refused", f"blob {digest[:12]}: malformed restore reply") from None
        if p.get("hash") != digest or p.get("offset") != len(data) or not isinstance(total, int) \
                or total > MAX_DATA or (size is not None and total != size) or (not chunk and len(data) < total):
            raise RestoreFailed("refused", f"blob {digest[:12]}: restore reply does not continue the file")
        size = total
        data += chunk
    try:
        return blobobject.open_object(header + bytes(data[:size]), digest, client.private_key)
    except blobobject.BlobObjectError as exc:
        raise RestoreFailed("damaged", str(exc)) from None


def restore_one(conn, client, store: BlobStore, digest: str, meta: dict | None = None) -> None:
    """Bring one missing document back (raises RestoreFailed)."""
    if meta is None:
        meta = named_documents(conn).get(digest)
        if meta is None:
            raise RestoreFailed("refused", f"no dossier here names blob {digest[:12]}")
    install(conn, store, digest, fetch(client, digest), meta)
    log.info("restored blob %s from central", digest[:12])


@dataclass
class Outcome:
    restored: int = 0
    problems: list[str] = field(default_factory=list)
    left: int = 0


def restore_missing(conn, client, store: BlobStore, limit: int | None = None) -> Outcome:
    """Fetch missing documents from central, oldest named first; stops early when the link is down."""
    outcome = Outcome()
    todo = list(missing(conn, store).items())
    for digest, meta in todo[:limit] if limit else todo:
        try:
            restore_one(conn, client, store, digest, meta)
            outcome.restored += 1
        except (RestoreFailed, BlobError) as exc:
            outcome.problems.append(f"blob {digest[:16]}: {exc}")
            if isinstance(exc, RestoreFailed) and exc.kind == "offline":
                break
    outcome.left = len(missing(conn, store))
    return outcome


def reconcile(conn, store: BlobStore) -> dict:
    """After the log was rewritten (``recover`` adopting central's events, a restore from central):
    every document the dossiers name and this disk holds gets its ``blobs`` row and an outbox row, so
    none is forgotten by the link (an outbox row that already says held stays held). Inside the
    caller's transaction. Returns {"rows": blobs rows added, "queued": outbox rows added, "missing": n}."""
    added = queued = lost = 0
    now = local_now().isoformat()
    for digest, meta in sorted(named_documents(conn).items()):
        if not store.exists(digest):
            lost += 1  # comes back from central on first view or with `motcua-node blobs restore`
            continue
        if conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (digest,)).fetchone() is None:
            try:
                data = store.get(digest)
            except BlobError as exc:
                log.warning("a document named by a dossier is unreadable here: %s", exc)
                lost += 1
                continue
            thumb_data = _thumbnail(data, meta.get("mime") or "")
            thumb = store.put(thumb_data) if thumb_data else None
            conn.execute("INSERT INTO blobs(hash, size, mime, pages, stored_at, thumb) VALUES (?, ?, ?, ?, ?, ?)",
                         (digest, len(data), meta.get("mime") or "application/octet-stream",
                          int(meta.get("pages") or 1), now, thumb))
            added += 1
        if conn.execute("SELECT 1 FROM blob_sync WHERE hash = ?", (digest,)).fetchone() is None:
            blob_outbox.queue(conn, digest, now)
            queued += 1
    return {"rows": added, "queued": queued, "missing": lost}


def requeue(conn, store: BlobStore, prefixes: list[str] | None = None) -> int:
    """Put documents this node holds back in the outbox (all, or those whose hash starts with one of
    ``prefixes``), so they reach central again; returns how many. Files not on this disk are skipped."""
    rows = [r[0] for r in conn.execute("SELECT hash FROM blob_sync WHERE state = 'held' ORDER BY hash")]
    if prefixes is not None:
        rows = [h for h in rows if any(h.startswith(p.lower()) for p in prefixes)]
    rows = [h for h in rows if store.exists(h)]
    with write_tx(conn):
        for digest in rows:
            conn.execute("UPDATE blob_sync SET state = 'queued', held_at = NULL, via = NULL, acked = 0 "
                         "WHERE hash = ?", (digest,))
    return len(rows)


class RestoreWorker:
    """A slow background loop for a running node: a few missing documents every ``interval`` seconds."""

    def __init__(self, data_dir: Path, settings: dict, interval: float = 300, per_round: int = 5):
        self.data_dir, self.settings = Path(data_dir), settings
        self.interval, self.per_round = interval, per_round
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="motcua-blob-restore", daemon=True)

    def start(self) -> RestoreWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def round(self) -> Outcome | None:
        from appshell.sqlite import connect

        from .settings import DB_NAME
        from .sync import make_client
        conn = connect(self.data_dir / DB_NAME)
        try:
            store = BlobStore(self.data_dir, create_key=False)
            if not missing(conn, store):
                return None
            return restore_missing(conn, make_client(conn, self.data_dir, self.settings), store, self.per_round)
        finally:
            conn.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                outcome = self.round()
            except Exception as exc:  # never let the loop die: the next round tries again
                log.warning("blob restore round failed: %s", type(exc).__name__)
                continue
            if outcome is None:
                return  # every document is on this disk: nothing more to fetch until the next start
            if outcome and (outcome.restored or outcome.problems):
                log.info("blob restore: %d restored, %d problems, %d left", outcome.restored,
                         len(outcome.problems), outcome.left)
