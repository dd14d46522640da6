"""Central's timestamps as text: whole seconds, ISO 8601.

Now itself (Vietnam local time, UTC+7, naive) is defined once in domain/clock.py (``local_now``) for node,
central, tests and tools alike; import it from there.
"""
from __future__ import annotations

from datetime import datetime


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()
