"""Settings declared once with defaults and help, parsed strictly from a TOML file at start-up.

A missing required key, an unknown key or a bad value raises ``ConfigError`` with one English
line; the CLIs turn that into exit code 2 so a technician sees exactly what to fix.
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from .files import owner_only


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any]

    @property
    def required(self) -> bool:
        return self.default is None


def as_str(value):
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def nonempty(value):
    if not as_str(value).strip():
        raise ValueError("must not be empty")
    return value.strip()


def positive_int(value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def non_negative_int(value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def secret(value):
    if len(as_str(value)) < 32:
        raise ValueError("must be at least 32 characters (init generates one)")
    return value


def url(value):
    if as_str(value) and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


def clock_time(value):
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", as_str(value)):
        raise ValueError("must be HH:MM")
    return value


def web_settings(*, session_help: str, max_request_bytes: int, max_request_help: str) -> list[Setting]:
    """The staff-login and request-cap settings both servers declare (read by appshell.web*)."""
    return [
        Setting("login_max_failures", 5, "Failed logins before an account is locked for a while", positive_int),
        Setting("login_lock_minutes", 15, "How long a locked account stays locked", positive_int),
        Setting("login_max_per_address", 30, "Failed logins allowed from one address per 10 minutes", positive_int),
        Setting("session_hours", 12, session_help, positive_int),
        Setting("max_request_bytes", max_request_bytes, max_request_help, positive_int),
    ]


class SettingsFile:
    """One program's settings: the declarations, the file name and how to read and write it."""

    def __init__(self, settings: list[Setting], config_name: str, program: str,
                 check: Callable[[dict], None] | None = None):
        """``check`` sees the parsed values and raises ConfigError when they do not fit together."""
        self.settings, self.config_name, self.program = settings, config_name, program
        self.by_name = {s.name: s for s in settings}
        self.check = check

    def parse(self, raw: dict) -> dict:
        unknown = sorted(set(raw) - set(self.by_name))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r} in {self.config_name}")
        values = {}
        for setting in self.settings:
            if setting.name not in raw:
                if setting.required:
                    raise ConfigError(f"missing required setting {setting.name!r} ({setting.help})")
                values[setting.name] = setting.default
                continue
            try:
                values[setting.name] = setting.parse(raw[setting.name])
            except ValueError as exc:
                raise ConfigError(f"setting {setting.name!r}: {exc}") from None
        if self.check is not None:
            self.check(values)
        return values

    def load(self, data_dir: Path) -> dict:
        path = Path(data_dir) / self.config_name
        if not Path(data_dir).is_dir():
            raise ConfigError(f"data folder {data_dir} does not exist (run {self.program} init first)")
        if not path.is_file():
            raise ConfigError(f"no {self.config_name} in {data_dir} (run {self.program} init first)")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        return self.parse(raw)

    def render(self, values: dict) -> str:
        """The config file text, every setting with its help as a comment."""
        lines = [f"# {self.program} settings. Edit with care; every value is checked at start-up.", ""]
        for setting in self.settings:
            lines.append(f"# {setting.help}")
            lines.append(tomli_w.dumps({setting.name: values.get(setting.name, setting.default)}).rstrip("\n"))
            lines.append("")
        return "\n".join(lines)

    def write(self, data_dir: Path, values: dict) -> None:
        """Write the file owner-only (it holds secret_key), atomically, and check it reads back."""
        self.parse(values)
        text = self.render(values)
        if self.parse(tomllib.loads(text)) != self.parse(values):
            raise ConfigError(f"{self.config_name} would not read back as written")
        path = Path(data_dir) / self.config_name
        tmp = path.with_suffix(".tmp")
        with owner_only():
            tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
