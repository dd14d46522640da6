"""Central's own signing key: ``central.key`` in the data folder, PKCS#8 PEM, mode 0600."""
from __future__ import annotations

from pathlib import Path

from appshell.settings import ConfigError
from protocol import keys

from .settings import KEY_NAME


def create(data_dir: Path):
    key = keys.generate()
    keys.save_private(key, Path(data_dir) / KEY_NAME)
    return key


def load(data_dir: Path):
    try:
        return keys.load_private(Path(data_dir) / KEY_NAME)
    except keys.KeyError_ as exc:
        raise ConfigError(str(exc)) from None


def fingerprint(key) -> str:
    return keys.fingerprint(keys.public_b64(key))
