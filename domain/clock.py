"""Vietnam's wall clock: the one definition of "now" and "today" for the product, its tests and tools.

Vietnam keeps UTC+7 all year (no daylight saving). Dossier codes, ``received_at``, due times and
report periods are Vietnam local time, stored naive. The machine's own time zone (servers are often
on UTC, a test runner may be anywhere) never enters: between 17:00 and 24:00 UTC it is already
tomorrow in Vietnam, and ``date.today()`` would be wrong.

``utc`` replaces the system clock with an aware moment, so a test can ask what Vietnam's date is at
22:30 UTC without faking the process's time.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7))


def local_now(utc: datetime | None = None) -> datetime:
    """Vietnam's local time now (or at the aware moment ``utc``): naive, whole seconds."""
    if utc is None:
        utc = datetime.now(UTC)
    elif utc.tzinfo is None:
        raise ValueError("local_now needs an aware datetime: a naive one has no known time zone")
    return utc.astimezone(VIETNAM).replace(tzinfo=None, microsecond=0)


def today(utc: datetime | None = None) -> date:
    """Vietnam's date now (or at the aware moment ``utc``): what a dossier code and a report mean by today."""
    return local_now(utc).date()
