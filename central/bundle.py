"""USB bundles: a node's signed batch in a file, imported through the same ingest() as a push.

File format (version 2, what nodes write): JSON {"kind": "motcua-bundle", "version": 2, "node",
"sealed": a protocol.sealedbox box to central's key holding {"signature", "body": base64 of the
gzip body}, "first_seq", "last_seq"}. Version 1 (nodes before encryption) had "signature" and
"body" in clear; it is still accepted, since the signature and every check are the same.

The file is read defensively: only a regular file (no symlink, FIFO or device: a symlink to
/dev/zero must not hang the import), opened without following links and without blocking, and
never more than the cap is read, whatever the file claims to be.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from protocol import sync as wire
from protocol.sealedbox import SealedBoxError, open_box

from .ingest import Caps, Refused, error_payload, ingest


def _read_capped(path: Path, cap: int) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Refused(400, "bad_bundle", f"cannot open {path} as a regular file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(400, "bad_bundle", f"{path} is not a regular file")
        if info.st_size > cap:
            raise Refused(413, "too_large", f"bundle file of {info.st_size} bytes is over the {cap}-byte cap")
        chunks, left = [], cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:
        raise Refused(413, "too_large", f"bundle file is over the {cap}-byte cap")
    return data


def read_bundle(path: Path, caps: Caps, central_key=None) -> tuple[str, bytes, str]:
    path = Path(path)
    cap = caps.max_body * 2 + 4096  # base64 (and the box's base64) grow the body by a third
    raw_file = _read_capped(path, cap)
    try:
        doc = json.loads(raw_file.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "bad_bundle", f"{path.name} is not a motcua bundle: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != wire.BUNDLE_KIND:
        raise Refused(400, "bad_bundle", f"{path.name} is not a motcua bundle (kind must be {wire.BUNDLE_KIND!r})")
    node = doc.get("node")
    if not isinstance(node, str):
        raise Refused(400, "bad_bundle", "bundle needs a string field node")
    if "sealed" in doc:
        if central_key is None:
            raise Refused(400, "bad_bundle", "an encrypted bundle needs central's key to open it")
        try:
            doc = json.loads(open_box(central_key, doc["sealed"], aad=node.encode("utf-8")))
        except SealedBoxError as exc:
            raise Refused(400, "bad_bundle", f"bundle cannot be decrypted: {exc}") from None
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "bad_bundle", "decrypted bundle is not JSON") from None
        if not isinstance(doc, dict):
            raise Refused(400, "bad_bundle", "decrypted bundle is not an object")
    signature, body = doc.get("signature"), doc.get("body")
    if not all(isinstance(v, str) for v in (signature, body)):
        raise Refused(400, "bad_bundle", "bundle needs string fields node, signature and body")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "bad_bundle", "bundle body is not base64") from None
    return node, raw, signature


def import_bundle(conn, path: Path, *, now, caps: Caps, central_key=None) -> tuple[int, dict]:
    """Open (decrypt) the file and pass it to ingest(): the same checks as a push."""
    try:
        node, body, signature = read_bundle(path, caps, central_key)
    except Refused as exc:
        return exc.status, error_payload(exc, node=None, request=None, now=now)
    return ingest(conn, node, body, signature, source="bundle", now=now, caps=caps)


# --- document blobs from a USB stick (issue 11, point 6; format in protocol/blobbundle.py) ------------

MAX_OBJECT = 512 * 1024 * 1024  # far above any document a node accepts; refuses a forged giant


def is_blob_bundle(path: Path) -> bool:
    from protocol import blobbundle
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.pread(fd, len(blobbundle.MAGIC), 0) == blobbundle.MAGIC
    finally:
        os.close(fd)


class _Open:
    """One blob bundle file, opened once defensively (regular file, no symlink) and read by offset."""

    def __init__(self, path: Path):
        from protocol import blobbundle
        self.path = Path(path)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            self.fd = os.open(self.path, flags)
        except OSError as exc:
            raise blobbundle.BlobBundleError(f"cannot open as a regular file: {exc.strerror}") from None
        info = os.fstat(self.fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(self.fd)
            raise blobbundle.BlobBundleError("not a regular file")
        self.size = info.st_size
        try:
            prefix = os.pread(self.fd, blobbundle.PREFIX, 0)
            length = int.from_bytes(prefix[-4:], "big") if len(prefix) == blobbundle.PREFIX else 0
            prefix += os.pread(self.fd, min(length, blobbundle.MAX_MANIFEST), blobbundle.PREFIX)
            self.manifest, self.data_at = blobbundle.read_manifest(prefix)
        except Exception:
            os.close(self.fd)
            raise

    def read(self, at: int, length: int) -> bytes:
        return os.pread(self.fd, length, self.data_at + at)

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class BlobImport:
    imported: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    files: int = 0


def import_blob_files(conn, storage, central_key, paths, *, now) -> BlobImport:
    """Import every complete object found in ``paths`` (one export's files, in any order, or several
    exports'): signature by the node's registered key, hash named by that node's dossiers, object
    verified by central.blob_intake.accept_object (source 'usb'). A problem is one line and skips only
    what it concerns; importing the same files twice stores nothing twice."""
    from protocol import blobbundle
    from protocol.keys import load_public

    from .blob_intake import BlobRefused, accept_object
    from .blobstore import HASH
    from .ingest import active_keys
    from .store import blobs as held_blobs
    result = BlobImport()
    opened: list[_Open] = []
    pieces: dict[tuple[str, str], list[tuple[dict, _Open]]] = {}
    try:
        for path in paths:
            name = Path(path).name
            try:
                handle = _Open(path)
            except blobbundle.BlobBundleError as exc:
                result.problems.append(f"refused {name}: {exc}")
                continue
            opened.append(handle)
            manifest, node = handle.manifest, handle.manifest["node"]
            status = conn.execute("SELECT status FROM nodes WHERE id = ?", (node,)).fetchone()
            usable = status is not None and status[0] not in ("pending", "revoked")
            keys = []
            for text in active_keys(conn, node) if usable else []:
                try:
                    keys.append(load_public(text))
                except ValueError:
                    continue
            if not blobbundle.check_signature(manifest, keys):
                result.problems.append(f"refused {name}: not signed by an active key of node {node[:40]!r}")
                continue
            for p in manifest["pieces"]:
                if not HASH.match(p["hash"]) or p["size"] > MAX_OBJECT \
                        or handle.data_at + p["at"] + p["length"] > handle.size:
                    result.problems.append(f"refused a piece of {name}: bad hash, size or position "
                                           f"(blob {p['hash'][:16]})")
                    continue
                pieces.setdefault((node, p["hash"]), []).append((p, handle))
            result.files += 1
        named: dict[str, set[str]] = {}
        for node in {n for n, _ in pieces}:
            named[node] = held_blobs.named_by_node(conn, node, [d for n, d in pieces if n == node])
        for (node, digest), found in sorted(pieces.items()):
            line = _import_one(conn, storage, central_key, node, digest, found, now=now, named=named[node],
                               accept=accept_object, refused=BlobRefused, held=held_blobs)
            if line == "imported":
                result.imported += 1
            elif line == "duplicate":
                result.duplicates += 1
            else:
                result.problems.append(line)
    finally:
        for handle in opened:
            handle.close()
    return result


def _import_one(conn, storage, central_key, node, digest, found, *, now, named, accept, refused, held) -> str:
    import hashlib
    label = f"blob {digest[:16]} from node {node}"
    if held.held(conn, [digest]) and storage.has(digest):
        return "duplicate"
    if digest not in named:
        return f"refused {label}: no dossier of that node names it (import its events first)"
    sizes = {p["size"] for p, _ in found}
    if len(sizes) != 1:
        return f"refused {label}: its pieces disagree on its size"
    size = sizes.pop()
    data, offset = bytearray(), 0
    for p, handle in sorted(found, key=lambda item: (item[0]["offset"], -item[0]["length"])):
        if p["offset"] > offset:
            break
        if p["offset"] + p["length"] <= offset:
            continue  # the same piece again (the same file given twice, or two exports)
        chunk = handle.read(p["at"], p["length"])
        if len(chunk) != p["length"] or hashlib.sha256(chunk).hexdigest() != p["sha256"]:
            return f"refused {label}: damaged piece in {handle.path.name} (copy that file again)"
        data += chunk[offset - p["offset"]:]
        offset = p["offset"] + p["length"]
    if offset < size:
        return f"incomplete {label}: {offset} of {size} bytes present (bring every file of its export)"
    try:
        accept(conn, storage, central_key, digest=digest, raw=bytes(data), node=node, source="usb", now=now)
    except refused as exc:
        return f"refused {label}: {exc}"
    return "imported"
