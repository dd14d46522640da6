"""Creating a node's data folder: config, database, sample catalogue and calendar, first admin."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from appshell import accounts
from appshell.files import new_data_folder
from appshell.provision import check_admin_password, fill_new_database
from appshell.settings import ConfigError
from appshell.sqlite import connect
from domain.calendar import load_default_calendar
from domain.catalogue import load_sample_catalogue

from . import reference, roles
from .db import migrate
from .settings import CONFIG_NAME, DB_NAME, parse_settings, write_settings


def init_node(data_dir: Path, *, agency_code: str, agency_name: str, admin: str, password: str,
              now: datetime, parent_name: str = "", public_url: str = "http://127.0.0.1:8080") -> dict:
    """Create everything a node needs; refuse an existing node folder; leave nothing half-made."""
    data_dir = Path(data_dir)
    if (data_dir / CONFIG_NAME).exists() or (data_dir / DB_NAME).exists():
        raise ConfigError(f"{data_dir} already holds a node; refusing to overwrite it")
    check_admin_password(password)
    values = parse_settings({
        "agency_code": agency_code, "agency_name": agency_name, "parent_name": parent_name,
        "secret_key": secrets.token_urlsafe(48), "public_url": public_url,
    })
    with new_data_folder(data_dir, (CONFIG_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")):
        cat_version, procedures = load_sample_catalogue()
        cal_version, entries = load_default_calendar()
        stamp = now.isoformat()

        def seed(conn):
            reference.install_catalogue(conn, cat_version, procedures, stamp)
            reference.install_calendar(conn, cal_version, entries, stamp)

        fill_new_database(data_dir / DB_NAME, migrate=migrate, connect=connect, seed=seed,
                          create_user=lambda *a: accounts.create(*a, roles=roles.ROLES), admin=admin,
                          password=password, now=now)
        write_settings(data_dir, values)
    return values
