"""Health checks of a node, explained in plain words: `motcua-node doctor` and GET /healthz.

Each check gives ``ok``, ``WARN`` (works, but look at it soon), ``FAIL`` (needs a technician
now) or ``skip`` (does not apply yet, e.g. before enrolment), with a message that says what was
found and what to do. ``message`` never holds citizens' data or file paths, so the same list is
served without login on /healthz; ``hint`` (paths, commands) is printed by the CLI only.
"""
from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import requests

from protocol.keys import permissions_problem

from . import sync_state
from .backup import backup_folder, quick_check, sqlite_uri
from .clock import local_now
from .settings import DB_NAME

OK, WARN, FAIL, SKIP = "ok", "WARN", "FAIL", "skip"
KEY_NAME = "node.key"
DISK_WARN_BYTES = 1024**3          # under 1 GB free: warn
DISK_FAIL_BYTES = 200 * 1024**2    # under 200 MB free: fail (intake may stop any moment)
BACKUP_MAX_HOURS = 26              # the daily backup runs every 24 h; 2 h of grace
SYNC_WARN_HOURS = 24
PENDING_WARN_HOURS = 24


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    hint: str = ""

    def public(self) -> dict:
        data = asdict(self)
        data.pop("hint")
        return data


def _age_words(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


def _size_words(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def check_database(conn: sqlite3.Connection | None, error: str | None) -> Check:
    if conn is None:
        return Check("database", FAIL, f"the database cannot be opened ({error}); restore the latest backup",
                     "motcua-node restore --data DIR <backup file>")
    try:
        findings = quick_check(conn)
    except sqlite3.DatabaseError as exc:
        findings = [str(exc)]
    if findings:
        detail = " ".join(" ".join(f.split()) for f in findings if not f.startswith("***"))[:120]
        return Check("database", FAIL, f"the database file is damaged (quick_check: {detail}); "
                                       "stop the node and restore the latest backup",
                     "motcua-node restore --data DIR <backup file>")
    return Check("database", OK, "the database file is intact (quick_check ok)")


def check_disk(folder: Path, warn_bytes: int = DISK_WARN_BYTES, fail_bytes: int = DISK_FAIL_BYTES) -> Check:
    free = shutil.disk_usage(folder).free
    if free < fail_bytes:
        return Check("disk", FAIL, f"only {_size_words(free)} free on the data disk; saving dossiers will soon "
                                   "fail: free some space now", f"data folder: {folder}")
    if free < warn_bytes:
        return Check("disk", WARN, f"only {_size_words(free)} free on the data disk (less than 1 GB); "
                                   "free some space soon", f"data folder: {folder}")
    return Check("disk", OK, f"{_size_words(free)} free on the data disk")


def check_key(data_dir: Path, enrolled: bool) -> Check:
    key = Path(data_dir) / KEY_NAME
    if not key.exists():
        if enrolled:
            return Check("key", FAIL, "the node's private key file is missing; sync cannot sign anything",
                         f"expected at {key}; ask the upper level for a recovery code")
        return Check("key", SKIP, "no key yet (the node is not enrolled with central)")
    problem = permissions_problem(key)
    if problem:
        return Check("key", FAIL, "the node's private key can be read by other users of this PC; "
                                  "make it readable by the node's user only", f"chmod 600 {key}  ({problem})")
    return Check("key", OK, "the private key is readable by the node's user only")


def check_clock(values: dict, warning_minutes: int) -> Check:
    offset = values.get("clock_offset_seconds")
    if offset is None:
        return Check("clock", SKIP, "clock not compared with central yet (no sync so far)")
    minutes = abs(offset) / 60
    if minutes > warning_minutes:
        direction = "slow" if offset > 0 else "fast"
        return Check("clock", FAIL, f"the PC clock is about {round(minutes)} minutes {direction} compared with "
                                    "central; receipts carry legal times: set the clock right",
                     "Linux: timedatectl set-ntp true; Windows: Settings > Time > Sync now")
    return Check("clock", OK, f"the PC clock agrees with central (offset {offset:+d} s)")


def check_feed(values: dict) -> Check:
    """Central's feed must continue (by seq and hash) what this node applied."""
    if not values.get("central_public_key"):
        return Check("feed", SKIP, "not enrolled with central, so no feed yet")
    if values.get("feed_diverged"):
        return Check("feed", FAIL, "central's feed no longer matches what this node applied since "
                                   f"{values.get('feed_diverged_at')} ({values['feed_diverged']}); central was "
                                   "probably restored from an older backup. No dossier is lost, but nothing new "
                                   "from central (online dossiers, hand-backs, catalogue) arrives until you resync",
                     "motcua-node resync-feed --data <this data folder>")
    return Check("feed", OK, f"central's feed continues what this node applied (entry {values.get('feed_seq') or 0})")


def check_central(url: str | None, timeout: float = 3.0) -> Check:
    if not url:
        return Check("central", SKIP, "not enrolled with central, so not checked")
    started = time.monotonic()
    try:
        reply = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return Check("central", WARN, f"central cannot be reached ({type(exc).__name__}); the desk keeps working "
                                      "and events wait, but check the network", f"central_url = {url}")
    ms = (time.monotonic() - started) * 1000
    return Check("central", OK, f"central answered (HTTP {reply.status_code}) in {ms:.0f} ms")


def check_sync(values: dict, now: datetime) -> Check:
    if not values.get("central_public_key"):
        return Check("sync", SKIP, "not enrolled with central yet", "motcua-node enroll --data DIR URL CODE")
    kind = values.get("last_error_kind")
    if kind == "fork":
        return Check("sync", FAIL, "sync stopped: this node's log no longer matches central's (restored from "
                                   "an old backup?); run motcua-node recover", "motcua-node recover --data DIR")
    if kind == "revoked":
        return Check("sync", FAIL, "sync stopped: central has revoked this node's key; call the upper level")
    last = values.get("last_success_at")
    if not last:
        return Check("sync", WARN, f"never synced with central (last error: {kind or 'none'})")
    age = (now - datetime.fromisoformat(last)).total_seconds()
    if age > SYNC_WARN_HOURS * 3600:
        return Check("sync", WARN, f"last successful sync {_age_words(age)} ago (last error: {kind or 'none'})")
    return Check("sync", OK, f"last successful sync {_age_words(age)} ago")


def check_backup(values: dict, now: datetime, max_hours: float = BACKUP_MAX_HOURS) -> Check:
    at, path, error = values.get("last_backup_at"), values.get("last_backup_path"), values.get("last_backup_error")
    hint = f"motcua-node backup --data DIR{f'  (last error: {error})' if error else ''}"
    if not at:
        return Check("backup", FAIL, "no backup has been made yet; run a backup now", hint)
    age = (now - datetime.fromisoformat(at)).total_seconds()
    name = Path(path).name if path else "?"
    if age > max_hours * 3600:
        why = "; the last attempt failed" if error else ""
        return Check("backup", FAIL, f"the last backup is {_age_words(age)} old (more than {max_hours:g} hours)"
                                     f"{why}: check the backup folder or USB disk", hint)
    if path and not Path(path).exists():
        return Check("backup", WARN, f"the last backup ({name}, {_age_words(age)} ago) is no longer there "
                                     "(USB disk unplugged?)", f"expected at {path}")
    return Check("backup", OK, f"last backup {_age_words(age)} ago ({name})")


def check_pending(conn: sqlite3.Connection, values: dict, now: datetime) -> Check:
    acked = int(values.get("acked_seq") or 0)
    local = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    pending = max(local - acked, 0)
    if not values.get("central_public_key"):
        return Check("pending", SKIP, f"{pending} events kept locally (the node is not enrolled with central)")
    if pending == 0:
        return Check("pending", OK, "every event is at central")
    oldest = conn.execute("SELECT at FROM events WHERE seq = ?", (acked + 1,)).fetchone()
    age = (now - datetime.fromisoformat(oldest[0])).total_seconds() if oldest else 0
    if age > PENDING_WARN_HOURS * 3600:
        return Check("pending", WARN, f"{pending} events not yet at central, the oldest written {_age_words(age)} "
                                      "ago; these records exist only on this PC")
    return Check("pending", OK, f"{pending} events waiting to be sent to central")


def check_blobs(conn: sqlite3.Connection | None, data_dir: Path, verify: bool = True) -> Check:
    """Every document blob the database names is on disk, decrypts and matches its SHA-256 (issue 10).

    ``verify=False`` (GET /healthz) only looks for the files, so a health probe never reads every scan.
    """
    from .blobs import BlobStore, KeyMissing, known_hashes
    if conn is None:
        return Check("blobs", SKIP, "documents cannot be checked without the database")
    try:
        digests = sorted(known_hashes(conn))
    except sqlite3.DatabaseError:
        return Check("blobs", SKIP, "this database has no document table yet")
    if not digests:
        return Check("blobs", OK, "no documents stored yet")
    store = BlobStore(data_dir, create_key=False)
    try:
        store.key()
    except KeyMissing as exc:
        return Check("blobs", FAIL, f"{len(digests)} documents but the blob key is missing ({exc})",
                     "put back blobs.key from where `motcua-node blobs export-key` wrote it")
    if verify:
        bad = [p for p in (store.verify(d) for d in digests) if p]
    else:
        bad = [f"blob {d[:12]} is missing" for d in digests if not store.exists(d)]
    if bad:
        return Check("blobs", FAIL, f"{len(bad)} of {len(digests)} documents are missing or damaged: {bad[0]}",
                     "restore them from a backup (motcua-node restore), then run the doctor again")
    return Check("blobs", OK, f"{len(digests)} documents present and matching their hashes")


def run_checks(data_dir: Path, settings: dict, *, now: datetime | None = None, http_timeout: float = 3.0,
               disk_thresholds: tuple[int, int] = (DISK_WARN_BYTES, DISK_FAIL_BYTES),
               verify_blobs: bool = True) -> list[Check]:
    """Every check, in the order the doctor prints them. Opens (and closes) its own connection."""
    data_dir = Path(data_dir)
    now = now or local_now()
    conn, error = None, None
    try:
        path = data_dir / DB_NAME
        if not path.exists():
            error = "no database file"
        else:
            conn = sqlite3.connect(sqlite_uri(path, "rw"), uri=True, timeout=5)
            conn.row_factory = sqlite3.Row
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn, error = None, str(exc)
    try:
        values: dict = {}
        if conn is not None:
            try:
                values = sync_state.get_all(conn)
            except sqlite3.DatabaseError:
                values = {}
        checks = [check_database(conn, error), check_disk(data_dir, *disk_thresholds)]
        enrolled = bool(values.get("central_public_key"))
        checks.append(check_key(data_dir, enrolled))
        checks.append(check_clock(values, settings["clock_warning_minutes"]))
        checks.append(check_central(settings.get("central_url") or values.get("central_url"), http_timeout))
        checks.append(check_sync(values, now))
        if enrolled:
            checks.append(check_feed(values))
        checks.append(check_backup(values, now))
        if conn is not None:
            try:
                checks.append(check_pending(conn, values, now))
            except sqlite3.DatabaseError as exc:
                checks.append(Check("pending", FAIL, f"events cannot be counted ({exc})"))
        else:
            checks.append(Check("pending", SKIP, "events cannot be counted without the database"))
        checks.append(check_blobs(conn, data_dir, verify_blobs))
        _backup_folder_note(checks, data_dir, settings)
        return checks
    finally:
        if conn is not None:
            conn.close()


def _backup_folder_note(checks: list[Check], data_dir: Path, settings: dict) -> None:
    """A configured backup folder that is missing (USB disk not plugged in) turns an ok backup into WARN."""
    folder = backup_folder(data_dir, settings)
    if settings.get("backup_dir") and not folder.is_dir():
        for i, check in enumerate(checks):
            if check.name == "backup" and check.status == OK:
                checks[i] = Check("backup", WARN, "the backup folder is missing (USB disk unplugged?); the next "
                                                  "daily backup will fail", f"backup_dir = {folder}")


def overall(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return "fail" if FAIL in statuses else "warn" if WARN in statuses else "ok"


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {c.message}")
        if c.hint and c.status in (WARN, FAIL):
            lines.append(f"{'':<4}  {'':<{width}}  -> {c.hint}")
    summary = overall(checks)
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    lines.append("")
    plural = "" if warns == 1 else "s"
    lines.append("all checks passed" if summary == "ok" else f"{fails} failed, {warns} warning{plural}")
    return "\n".join(lines)
