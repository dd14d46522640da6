"""GET /healthz (the doctor's checks as JSON, no login) and the clerk's "disk full" error.

/healthz answers 200 when no check fails (``status`` "ok" or "warn") and 503 when one does. It
carries check names, statuses and plain-English messages only: no citizens' data, no paths.
Results are cached for a few seconds (``HEALTH_CACHE_SECONDS``, default 30) so a monitor polling
it cannot make the node scan its database over and over.

Registering this blueprint also installs an app-wide handler for SQLite's "database or disk is
full": the clerk sees a clear Vietnamese message that the change was NOT saved and that earlier
records are safe (the failed transaction was rolled back; nothing else was touched).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time

from flask import Blueprint, current_app, jsonify, render_template, request

from ..backup import backup_age_hours, last_backup
from ..doctor import BACKUP_MAX_HOURS, overall, run_checks

bp = Blueprint("health", __name__)
log = logging.getLogger("motcua.node")
_lock = threading.Lock()

DISK_FULL_TITLE = "Ổ đĩa máy chủ đã đầy — chưa lưu được"
DISK_FULL_MESSAGE = ("Ổ đĩa của máy chủ đã đầy nên thao tác vừa rồi CHƯA được lưu. Các hồ sơ đã lưu trước đó "
                     "vẫn an toàn. Vui lòng báo ngay cán bộ kỹ thuật để giải phóng dung lượng ổ đĩa, "
                     "sau đó nhập lại.")


@bp.get("/healthz")
def healthz():
    app = current_app
    cache = app.extensions.setdefault("motcua.health", {})
    ttl = float(app.config.get("HEALTH_CACHE_SECONDS", 30))
    with _lock:
        if cache.get("until", 0) <= time.monotonic():
            checks = run_checks(app.config["DATA_DIR"], app.config["MOTCUA"], http_timeout=2.0, verify_blobs=False)
            cache.update(until=time.monotonic() + ttl, checks=checks,
                         checked_at=app.config["CLOCK"]().isoformat())
        checks, checked_at = cache["checks"], cache["checked_at"]
    status = overall(checks)
    body = {"status": status, "checked_at": checked_at, "checks": [c.public() for c in checks]}
    response = jsonify(body)
    response.status_code = 503 if status == "fail" else 200
    response.headers["Cache-Control"] = "no-store"
    return response


def is_disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL: the write did not fit on the disk (or under the database's size limit)."""
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc))


@bp.app_errorhandler(sqlite3.OperationalError)
def database_error(exc):
    if not is_disk_full(exc):
        raise exc  # Flask's own handling: logged, then the app's 500 page
    log.error("disk full: %s %s was not saved", request.method, request.path)
    if request.path.startswith("/api/"):
        return jsonify({"error": {"code": "disk_full",
                                  "message": "The node's disk is full; nothing was saved. Earlier records are "
                                             "safe. Free some disk space and try again."}}), 507
    return render_template("error.html", title=DISK_FULL_TITLE, message=DISK_FULL_MESSAGE), 507


def last_backup_summary(conn, now) -> dict:
    """For the admin page: the last backup's age in Vietnamese, and whether it is late (> 26 h or none).

    Usage in a view: ``backup=last_backup_summary(get_db(), g.now)``; in the template:
    ``<p class="{{ 'warning' if backup.late }}">Sao lưu gần nhất: {{ backup.text }}</p>``
    """
    hours = backup_age_hours(conn, now)
    _at, path = last_backup(conn)
    if hours is None:
        return {"text": "chưa có bản sao lưu nào (chạy lệnh motcua-node backup)", "late": True, "hours": None}
    if hours < 1:
        age = "chưa đầy 1 giờ trước"
    elif hours < 48:
        age = f"{int(hours)} giờ trước"
    else:
        age = f"{int(hours // 24)} ngày trước"
    name = path.replace("\\", "/").rsplit("/", 1)[-1] if path else ""
    late = hours > BACKUP_MAX_HOURS
    text = f"{age}{f' ({name})' if name else ''}" + (" — quá hạn, đề nghị kiểm tra ổ sao lưu" if late else "")
    return {"text": text, "late": late, "hours": hours}
