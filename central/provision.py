"""Creating central's data folder: config, signing key, database, reference data v1, first admin."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from service.files import make_private, new_data_folder
from service.settings import ConfigError
from service.sqlite import write_tx

from . import feed, keys, users
from .db import connect, migrate
from .settings import CONFIG_NAME, DB_NAME, KEY_NAME, parse_settings, write_settings


def init_central(data_dir: Path, *, name: str, admin: str, password: str, now: datetime) -> dict:
    """Create everything central needs; refuse an existing folder; leave nothing half-made."""
    data_dir = Path(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(f"{data_dir} already exists and is not empty; refusing to overwrite it")
    problem = users.password_problem(password)
    if problem:
        raise ConfigError(f"admin {problem}")
    values = parse_settings({"name": name, "secret_key": secrets.token_urlsafe(48)})
    with new_data_folder(data_dir, (CONFIG_NAME, KEY_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")):
        keys.create(data_dir)
        make_private(data_dir / KEY_NAME)
        db_path = data_dir / DB_NAME
        migrate(db_path)
        conn = connect(db_path)
        try:
            with write_tx(conn):
                feed.publish_samples(conn, now=now)
            try:
                users.create(conn, admin, password, "admin", "Quản trị viên", now)
            except users.UserError as exc:
                raise ConfigError(f"admin {exc}") from None
        finally:
            conn.close()
        write_settings(data_dir, values)
    return values
