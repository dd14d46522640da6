"""The node's notion of now: Vietnam local time (UTC+7, no daylight saving), naive."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7))


def local_now() -> datetime:
    return datetime.now(VIETNAM).replace(tzinfo=None, microsecond=0)
