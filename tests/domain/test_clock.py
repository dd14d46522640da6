"""Vietnam's date is the product's "today", whatever the machine's clock zone and whatever the hour in UTC."""
from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.clock import VIETNAM, local_now, today

pytestmark = pytest.mark.dates

UTC = UTC


def test_at_22_30_utc_it_is_already_the_next_morning_in_vietnam():
    evening = datetime(2026, 12, 3, 22, 30, tzinfo=UTC)
    assert today(evening) == date(2026, 12, 4)
    assert local_now(evening) == datetime(2026, 12, 4, 5, 30)


def test_vietnams_date_changes_at_17_00_utc_and_not_at_utc_midnight():
    assert today(datetime(2026, 12, 3, 16, 59, 59, tzinfo=UTC)) == date(2026, 12, 3)
    assert today(datetime(2026, 12, 3, 17, 0, tzinfo=UTC)) == date(2026, 12, 4)
    assert today(datetime(2026, 12, 4, 0, 0, tzinfo=UTC)) == date(2026, 12, 4)


def test_a_moment_given_in_another_zone_gives_the_same_vietnamese_time():
    kiritimati = timezone(timedelta(hours=14))
    moment = datetime(2026, 12, 4, 12, 30, tzinfo=kiritimati)  # 22:30 UTC the day before
    assert local_now(moment) == datetime(2026, 12, 4, 5, 30)


def test_a_naive_moment_is_refused_because_its_zone_is_unknown():
    with pytest.raises(ValueError, match="aware"):
        local_now(datetime(2026, 12, 3, 22, 30))


def test_the_system_clock_path_ignores_the_machines_time_zone(monkeypatch):
    results = {}
    for zone in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        before = datetime.now(VIETNAM).replace(tzinfo=None)
        results[zone] = local_now()
        after = datetime.now(VIETNAM).replace(tzinfo=None)
        assert before.replace(microsecond=0) <= results[zone] <= after
    monkeypatch.undo()
    time.tzset()
    assert max(results.values()) - min(results.values()) < timedelta(minutes=1)


def test_node_and_central_share_the_one_clock():
    import central.app
    import central.cli
    import node.app
    import node.clock
    assert node.clock.local_now is node.app.local_now is central.app.local_now is central.cli.local_now is local_now
