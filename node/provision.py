"""Creating a node's data folder: config, database, sample catalogue and calendar, first admin."""
from __future__ import annotations

import secrets
import shutil
from datetime import datetime
from pathlib import Path

from domain.calendar import load_default_calendar
from domain.catalogue import load_sample_catalogue

from service.settings import ConfigError
from . import reference, users
from service.sqlite import connect, write_tx
from .db import migrate
from service.files import private_dir
from .settings import CONFIG_NAME, DB_NAME, parse_settings, write_settings


def init_node(data_dir: Path, *, agency_code: str, agency_name: str, admin: str, password: str,
              now: datetime, parent_name: str = "", public_url: str = "http://127.0.0.1:8080") -> dict:
    """Create everything a node needs; refuse an existing node folder; leave nothing half-made."""
    data_dir = Path(data_dir)
    if (data_dir / CONFIG_NAME).exists() or (data_dir / DB_NAME).exists():
        raise ConfigError(f"{data_dir} already holds a node; refusing to overwrite it")
    problem = users.password_problem(password)
    if problem:
        raise ConfigError(f"admin {problem}")
    values = parse_settings({
        "agency_code": agency_code, "agency_name": agency_name, "parent_name": parent_name,
        "secret_key": secrets.token_urlsafe(48), "public_url": public_url,
    })
    created_dir = not data_dir.exists()
    private_dir(data_dir)  # an existing folder open to others is made owner-only (0700)
    try:
        db_path = data_dir / DB_NAME
        migrate(db_path)
        conn = connect(db_path)
        try:
            cat_version, procedures = load_sample_catalogue()
            cal_version, entries = load_default_calendar()
            stamp = now.isoformat()
            with write_tx(conn):
                reference.install_catalogue(conn, cat_version, procedures, stamp)
                reference.install_calendar(conn, cal_version, entries, stamp)
            users.create(conn, admin, password, "admin", "Quản trị viên", now)
        finally:
            conn.close()
        write_settings(data_dir, values)
    except BaseException:
        if created_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for name in (CONFIG_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
                (data_dir / name).unlink(missing_ok=True)
        raise
    private_dir(data_dir / "backups")
    private_dir(data_dir / "logs")
    return values
