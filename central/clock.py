"""Central's notion of now: Vietnam local time (UTC+7, no daylight saving), naive, whole seconds.

Defined once in domain/clock.py for node, central, tests and tools alike.
"""
from __future__ import annotations

from datetime import datetime

from domain.clock import VIETNAM, local_now, today  # noqa: F401  (the one definition)


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()
