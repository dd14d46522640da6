"""Creating central's data folder: config, signing key, database, reference data v1, first admin."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from service.files import make_private, new_data_folder
from service.provision import check_admin_password, fill_new_database
from service.settings import ConfigError

from . import feed, keys, roles
from service import accounts
from .db import connect, migrate
from .settings import CONFIG_NAME, DB_NAME, KEY_NAME, parse_settings, write_settings


def init_central(data_dir: Path, *, name: str, admin: str, password: str, now: datetime) -> dict:
    """Create everything central needs; refuse an existing folder; leave nothing half-made."""
    data_dir = Path(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(f"{data_dir} already exists and is not empty; refusing to overwrite it")
    check_admin_password(password)
    values = parse_settings({"name": name, "secret_key": secrets.token_urlsafe(48)})
    with new_data_folder(data_dir, (CONFIG_NAME, KEY_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")):
        keys.create(data_dir)
        make_private(data_dir / KEY_NAME)
        fill_new_database(data_dir / DB_NAME, migrate=migrate, connect=connect,
                          seed=lambda conn: feed.publish_samples(conn, now=now),
                          create_user=lambda *a: accounts.create(*a, roles=roles.ROLES), admin=admin, password=password, now=now)
        write_settings(data_dir, values)
    return values
