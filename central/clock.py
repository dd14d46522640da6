"""Central's notion of now: Vietnam local time (UTC+7, no daylight saving), naive, whole seconds."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7))


def local_now() -> datetime:
    return datetime.now(VIETNAM).replace(tzinfo=None, microsecond=0)


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()
