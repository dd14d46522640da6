"""`motcua-central blobs check`: every object central says it holds, verified against its hash.

For each ``blobs`` row the stored object must exist and open with central's key to a plaintext whose
SHA-256 is its address (protocol.blobobject.verify). The check also lists objects no row names
(unreferenced: e.g. extras copied into a backup while it was made), objects no dossier names, staged
uploads not touched for a day and staged bytes that belong to no upload. Each problem is one English
line naming the hash prefix and the node, never anything of the document itself.

``forget`` drops the rows of missing and damaged objects (and a damaged file), so central no longer
claims to hold them; a node learns it must send them again when a technician runs
``motcua-node blobs requeue`` there (a node asks central only about the blobs it has not marked held).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from protocol import blobobject

from .blobstore import BlobStorage, StorageError
from .store import blobs

STALE_STAGING = timedelta(days=1)


@dataclass
class Report:
    verified: int = 0
    missing: list[dict] = field(default_factory=list)
    damaged: list[tuple[dict, str]] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    unnamed: list[dict] = field(default_factory=list)
    stale_staging: list[dict] = field(default_factory=list)
    stray_staging: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.missing or self.damaged)

    def lines(self) -> list[str]:
        out = [f"missing: blob {r['hash'][:16]} from node {r['node']} ({r['source']}, {r['stored_at']}) "
               "is recorded as held but its object is not stored" for r in self.missing]
        out += [f"damaged: blob {r['hash'][:16]} from node {r['node']}: {problem}" for r, problem in self.damaged]
        out += [f"unreferenced: object {d[:16]} is stored but no row records it (delivered again it is kept)"
                for d in self.unreferenced]
        out += [f"unnamed: blob {r['hash'][:16]} from node {r['node']} is named by no dossier central holds"
                for r in self.unnamed]
        out += [f"stale staging: upload of blob {u['hash'][:16]} by node {u['node']} stopped at "
                f"{u['received']}/{u['size']} bytes on {u['updated_at']}" for u in self.stale_staging]
        out += [f"stale staging: staged bytes {upload_id} belong to no upload in progress" for upload_id in
                self.stray_staging]
        out += [f"forgotten: blob {d[:16]} is no longer held; run `motcua-node blobs requeue` on its node"
                for d in self.forgotten]
        return out


def check(conn, storage: BlobStorage, central_key, *, now: datetime, forget: bool = False) -> Report:
    report = Report()
    rows = blobs.held_rows(conn)
    recorded = {r["hash"] for r in rows}
    named = blobs.named_hashes(conn)
    for row in rows:
        digest = row["hash"]
        if not storage.has(digest):
            report.missing.append(row)
            continue
        try:
            blobobject.verify(storage.read(digest), digest, central_key)
        except (blobobject.BlobObjectError, StorageError) as exc:
            report.damaged.append((row, str(exc)))
            continue
        report.verified += 1
        if digest not in named:
            report.unnamed.append(row)
    report.unreferenced = [d for d in storage.digests() if d not in recorded]
    cutoff = now - STALE_STAGING
    for up in blobs.uploads(conn):
        try:
            stale = datetime.fromisoformat(up["updated_at"]) < cutoff
        except (TypeError, ValueError):
            stale = True
        if stale:
            report.stale_staging.append(up)
    in_progress = {up["upload_id"] for up in blobs.uploads(conn)}
    report.stray_staging = [u for u in storage.staging_ids() if u not in in_progress]
    if forget:
        for row in report.missing:
            blobs.forget(conn, row["hash"])
            report.forgotten.append(row["hash"])
        for row, _problem in report.damaged:
            blobs.forget(conn, row["hash"])
            storage.delete(row["hash"])
            report.forgotten.append(row["hash"])
    return report
