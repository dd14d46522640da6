"""Logging for both server processes: size-rotated file plus stderr, never citizens' personal data.

Code logs dossier codes and usernames only; the filter is a second line of defence that
masks anything shaped like an ID number or a phone number before it reaches a handler.
"""
from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

from .files import owner_only, private_dir

_PERSONAL = re.compile(r"(?<![\d.-])(\+84\d{9}|0\d{9}|\d{12}|\d{9})(?![\d-])")


class RedactPersonalData(logging.Filter):
    """Masks ID- and phone-shaped numbers in the message and in a logged traceback's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _PERSONAL.sub("[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # formatted here so the handler's formatter reuses the redacted text (it caches exc_text)
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _PERSONAL.sub("[redacted]", record.exc_text)
        if record.stack_info:
            record.stack_info = _PERSONAL.sub("[redacted]", record.stack_info)
        return True


def configure(data_dir: Path | None, file_name: str, level: int = logging.INFO) -> None:
    """Log to stderr and, with a data folder, to ``<data>/logs/<file_name>`` (owner-only), both redacted."""
    root = logging.getLogger()
    root.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if data_dir is not None:
        log_dir = private_dir(Path(data_dir) / "logs")
        with owner_only():  # rotated files are made later under the process umask (both CLIs set 077)
            handlers.append(RotatingFileHandler(log_dir / file_name, maxBytes=1_000_000, backupCount=5,
                                                encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactPersonalData())
        root.addHandler(handler)
