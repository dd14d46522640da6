"""Creating a node's data folder: config, database, sample catalogue and calendar, first admin."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from domain.calendar import load_default_calendar
from domain.catalogue import load_sample_catalogue
from service.files import new_data_folder
from service.settings import ConfigError
from service.sqlite import connect, write_tx

from . import reference, users
from .db import migrate
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
    with new_data_folder(data_dir, (CONFIG_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")):
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
            try:
                users.create(conn, admin, password, "admin", "Quản trị viên", now)
            except users.UserError as exc:
                raise ConfigError(f"admin {exc}") from None
        finally:
            conn.close()
        write_settings(data_dir, values)
    return values
