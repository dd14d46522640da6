"""Working-time calendar and due-time arithmetic for the one-stop desk.

Pure standard library: no Flask, no database. All datetimes are naive local
Vietnam time (UTC+7, no DST); dates are ``datetime.date``.

Working calendar
----------------
A day is a working day when the calendar has a "workday" entry for it (a worked
Saturday or Sunday), or when it is Monday-Friday without a "holiday" or
"substitute" (day off moved onto a weekday) entry. The entries are data
published by central (see ``domain/data/calendar_default.json`` for the shipped
default); lunar dates are never computed here.

Working hours are a list of periods, "07:00-11:30,13:30-17:00" by default
(configurable per node). ``minutes_per_day`` is derived from them: the default
hours give 270 + 210 = 480 working minutes a day.

Working time is closed: 11:30 and 17:00 are still working time, so a limit that
uses up a period exactly lands on its end (17:00), never on the next start.

Due-time rules (``due_time``)
-----------------------------
The clock starts at ``next_working_moment(received_at)``: the receipt moment
itself during working hours, otherwise the next period start (lunch break 12:00
-> 13:30; before 07:00 -> 07:00; at or after 17:00, or on a day off -> the next
working day at 07:00).

- "working_days" N: N * minutes_per_day working minutes from the start.
  Mon 09:00 + 3 -> Thu 09:00; Fri 16:50 + 1 -> Mon 16:50; Fri 17:05 + 1 ->
  Mon 17:00 (the clock starts Mon 07:00 and uses the whole day).
- "working_hours" N: N * 60 working minutes from the start.
- "same_day": received on a working day before the cutoff (default 15:00; any
  time before 07:00 counts as before) -> the end of that day's last period
  (17:00). At or after the cutoff, or on a day off -> the end of the last period
  of the next working day strictly after the received date. A cutoff later than
  the last period's end acts as that end.
- "calendar_days" N: due date = start.date() + N days, moved forward to the
  next working day if it is a day off; due = that date at start's time of day.
- A value of 0 means "same_day" for every unit. Negative values, non-integers
  and unknown units raise ``CalendarError``.

Invariant (checked by property tests): the due time is working time on a
working day and never before ``received_at``.

Changes to a due time
---------------------
- ``extend_for_pause``: a supplement request pauses the clock; the working
  minutes between pause and resume are added to the due time (re-aligned to
  working time). A pause entirely outside working time changes nothing.
- ``extend_by_working_days``: an extension (form 04) adds whole working days.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources

DAY_KINDS = ("holiday", "substitute", "workday")
LIMIT_UNITS = ("working_days", "working_hours", "calendar_days", "same_day")
DEFAULT_HOURS = "07:00-11:30,13:30-17:00"
DEFAULT_SAME_DAY_CUTOFF = time(15, 0)

_PERIOD_RE = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY = timedelta(days=1)
_ONE_MINUTE = timedelta(minutes=1)


class CalendarError(ValueError):
    """Invalid calendar data, working hours or time-limit arguments."""


@dataclass(frozen=True)
class CalendarEntry:
    """One dated exception to the Monday-Friday week."""

    day: date
    kind: str
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise CalendarError(f"calendar entry day must be a date, got {self.day!r}")
        if self.kind not in DAY_KINDS:
            raise CalendarError(
                f"unknown day kind {self.kind!r} for {self.day}; expected one of {', '.join(DAY_KINDS)}"
            )
        weekend = self.day.weekday() >= 5
        if self.kind == "workday" and not weekend:
            raise CalendarError(f"{self.day} is a weekday: a 'workday' entry must fall on a Saturday or Sunday")
        if self.kind == "substitute" and weekend:
            raise CalendarError(f"{self.day} is a weekend day: a 'substitute' day off must fall on Monday-Friday")


def _format_period(start: time, end: time) -> str:
    return f"{start:%H:%M}-{end:%H:%M}"


def _check_periods(periods) -> tuple[tuple[time, time], ...]:
    periods = tuple(tuple(p) for p in periods)
    if not periods:
        raise CalendarError("working hours need at least one period, e.g. '07:00-11:30,13:30-17:00'")
    prev_end = None
    for period in periods:
        if len(period) != 2 or not all(isinstance(t, time) and t.tzinfo is None for t in period):
            raise CalendarError(f"working-hours period {period!r} must be a pair of naive times")
        start, end = period
        if start.second or start.microsecond or end.second or end.microsecond:
            raise CalendarError(f"working-hours period {_format_period(start, end)} must use whole minutes")
        if start >= end:
            raise CalendarError(f"working-hours period {_format_period(start, end)} must start before it ends")
        if prev_end is not None and start < prev_end:
            raise CalendarError(
                f"working-hours period {_format_period(start, end)} starts before the previous period ends "
                f"at {prev_end:%H:%M}: periods must be in order and must not overlap"
            )
        prev_end = end
    return periods


def parse_hours(text: str) -> tuple[tuple[time, time], ...]:
    """Parse "HH:MM-HH:MM,HH:MM-HH:MM" into ((start, end), ...), strictly."""
    if not isinstance(text, str) or not text.strip():
        raise CalendarError("working hours must be a non-empty text like '07:00-11:30,13:30-17:00'")
    periods = []
    for item in text.split(","):
        item = item.strip()
        match = _PERIOD_RE.fullmatch(item)
        if not match:
            raise CalendarError(f"working-hours period {item!r} is not in the form HH:MM-HH:MM, e.g. '07:00-11:30'")
        h1, m1, h2, m2 = map(int, match.groups())
        try:
            periods.append((time(h1, m1), time(h2, m2)))
        except ValueError:
            raise CalendarError(
                f"working-hours period {item!r} has an impossible time: hours go 00-23, minutes 00-59"
            ) from None
    return _check_periods(periods)


def parse_entries(raw: list[dict]) -> list[CalendarEntry]:
    """Validate calendar entries {"date": "YYYY-MM-DD", "kind": ..., "name": ...}.

    Returns them sorted by date. Unknown keys are ignored (forward compatibility
    with calendars published by a newer central).
    """
    if not isinstance(raw, list):
        raise CalendarError("calendar entries must be a list of objects")
    seen: dict[date, int] = {}
    entries = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise CalendarError(f"calendar entry #{number} must be an object with 'date', 'kind' and 'name'")
        text = item.get("date")
        where = f"calendar entry #{number} (date {text!r})"
        if not isinstance(text, str) or not _DATE_RE.fullmatch(text):
            raise CalendarError(f"{where}: date must be written YYYY-MM-DD")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise CalendarError(f"{where}: no such date") from None
        if day in seen:
            raise CalendarError(f"{where}: duplicate date, already given by entry #{seen[day]}")
        kind, name = item.get("kind"), item.get("name", "")
        if kind not in DAY_KINDS:
            raise CalendarError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(DAY_KINDS)}")
        if not isinstance(name, str):
            raise CalendarError(f"{where}: name must be text")
        try:
            entries.append(CalendarEntry(day, kind, name))
        except CalendarError as exc:
            raise CalendarError(f"{where}: {exc}") from None
        seen[day] = number
    return sorted(entries, key=lambda e: e.day)


def parse_calendar_document(doc: dict) -> tuple[int, list[CalendarEntry]]:
    """Validate a calendar document {"version": int >= 1, "entries": [...]}."""
    if not isinstance(doc, dict):
        raise CalendarError("a calendar document must be an object with 'version' and 'entries'")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CalendarError(f"calendar version must be a positive integer, got {version!r}")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise CalendarError("a calendar document's 'entries' must be a list")
    return version, parse_entries(entries)


def load_default_calendar() -> tuple[int, list[CalendarEntry]]:
    """Read the shipped default calendar; returns (version, entries)."""
    resource = resources.files("domain") / "data" / "calendar_default.json"
    return parse_calendar_document(json.loads(resource.read_text(encoding="utf-8")))


class WorkCalendar:
    """Working days and hours, with working-time arithmetic."""

    def __init__(self, entries=(), hours=DEFAULT_HOURS, version: int = 0):
        self.hours = parse_hours(hours) if isinstance(hours, str) else _check_periods(hours)
        self.version = version
        by_day: dict[date, CalendarEntry] = {}
        for entry in entries:
            if not isinstance(entry, CalendarEntry):
                raise CalendarError(f"calendar entries must be CalendarEntry objects, got {entry!r}")
            if entry.day in by_day:
                raise CalendarError(f"duplicate calendar entry for {entry.day}")
            by_day[entry.day] = entry
        self._by_day = by_day
        self.entries = tuple(sorted(by_day.values(), key=lambda e: e.day))
        day = date.min
        self.minutes_per_day = sum(
            (datetime.combine(day, end) - datetime.combine(day, start)) // _ONE_MINUTE for start, end in self.hours
        )
        self._day_length = timedelta(minutes=self.minutes_per_day)

    def __repr__(self):
        hours = ",".join(_format_period(s, e) for s, e in self.hours)
        return f"WorkCalendar(version={self.version}, hours={hours!r}, entries={len(self.entries)})"

    def entry(self, d: date) -> CalendarEntry | None:
        """The calendar entry for a date, if any."""
        return self._by_day.get(d)

    def is_working_day(self, d: date) -> bool:
        if isinstance(d, datetime):
            d = d.date()
        entry = self._by_day.get(d)
        if entry is not None:
            return entry.kind == "workday"
        return d.weekday() < 5

    def is_working_time(self, dt: datetime) -> bool:
        if not self.is_working_day(dt.date()):
            return False
        t = dt.time()
        return any(start <= t <= end for start, end in self.hours)

    def next_working_day(self, d: date, strictly_after: bool = False) -> date:
        if strictly_after:
            d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def end_of_day(self, d: date) -> datetime:
        """The end of the last working period on date d."""
        return datetime.combine(d, self.hours[-1][1])

    def next_working_moment(self, dt: datetime) -> datetime:
        """dt itself if the clock runs at dt, else the start of the next period."""
        day = dt.date()
        if self.is_working_day(day):
            t = dt.time()
            for start, end in self.hours:
                if t < start:
                    return datetime.combine(day, start)
                if t < end:
                    return dt
        return datetime.combine(self.next_working_day(day, strictly_after=True), self.hours[0][0])

    def _spend(self, since: datetime, left: timedelta) -> tuple[datetime | None, timedelta]:
        """Spend `left` working time on since's day from `since` (a working day).

        Returns (landing moment, zero) or (None, what is still left).
        """
        day = since.date()
        for start, end in self.hours:
            end_at = datetime.combine(day, end)
            if end_at <= since:
                continue
            start_at = max(since, datetime.combine(day, start))
            span = end_at - start_at
            if left <= span:
                return start_at + left, timedelta(0)
            left -= span
        return None, left

    def add_working_minutes(self, dt: datetime, minutes: int) -> datetime:
        """Move forward by `minutes` working minutes from next_working_moment(dt)."""
        if minutes < 0:
            raise CalendarError(f"cannot add a negative number of working minutes ({minutes})")
        current = self.next_working_moment(dt)
        if minutes == 0:
            return current
        landing, left = self._spend(current, timedelta(minutes=minutes))
        day = current.date()
        while landing is None:
            day = self.next_working_day(day, strictly_after=True)
            if left > self._day_length:  # skip the whole day
                left -= self._day_length
                continue
            landing, left = self._spend(datetime.combine(day, time.min), left)
        return landing

    def working_minutes_between(self, a: datetime, b: datetime) -> int:
        """Whole working minutes in [a, b]; 0 if b <= a."""
        if b <= a:
            return 0
        total = timedelta(0)
        day, last = a.date(), b.date()
        while day <= last:
            if self.is_working_day(day):
                for start, end in self.hours:
                    low = max(a, datetime.combine(day, start))
                    high = min(b, datetime.combine(day, end))
                    if high > low:
                        total += high - low
            day += _ONE_DAY
        return total // _ONE_MINUTE


def default_calendar(hours=DEFAULT_HOURS) -> WorkCalendar:
    """A WorkCalendar built from the shipped default calendar data."""
    version, entries = load_default_calendar()
    return WorkCalendar(entries, hours=hours, version=version)


def _check_count(value, what: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CalendarError(f"{what} must be a whole number >= {minimum}, got {value!r}")


def due_time(
    received_at: datetime,
    limit_value: int,
    limit_unit: str,
    calendar: WorkCalendar,
    same_day_cutoff: time = DEFAULT_SAME_DAY_CUTOFF,
) -> datetime:
    """When the result is due; see the module docstring for the rules."""
    if limit_unit not in LIMIT_UNITS:
        raise CalendarError(f"unknown time-limit unit {limit_unit!r}; expected one of {', '.join(LIMIT_UNITS)}")
    _check_count(limit_value, "time-limit value", 0)
    if limit_unit == "same_day" or limit_value == 0:
        day = received_at.date()
        cutoff = min(same_day_cutoff, calendar.hours[-1][1])
        if not (calendar.is_working_day(day) and received_at.time() < cutoff):
            day = calendar.next_working_day(day, strictly_after=True)
        return calendar.end_of_day(day)
    if limit_unit == "working_days":
        return calendar.add_working_minutes(received_at, limit_value * calendar.minutes_per_day)
    if limit_unit == "working_hours":
        return calendar.add_working_minutes(received_at, limit_value * 60)
    start = calendar.next_working_moment(received_at)  # calendar_days
    day = calendar.next_working_day(start.date() + timedelta(days=limit_value))
    return datetime.combine(day, start.time())


def extend_for_pause(due_at: datetime, paused_at: datetime, resumed_at: datetime, calendar: WorkCalendar) -> datetime:
    """New due time after a supplement pause: add the working minutes spent waiting."""
    waited = calendar.working_minutes_between(paused_at, resumed_at)
    return due_at if waited == 0 else calendar.add_working_minutes(due_at, waited)


def extend_by_working_days(due_at: datetime, days: int, calendar: WorkCalendar) -> datetime:
    """New due time after an extension of `days` (>= 1) working days."""
    _check_count(days, "extension in working days", 1)
    return calendar.add_working_minutes(due_at, days * calendar.minutes_per_day)


def classify_resolution(resolved_at: datetime, due_at: datetime) -> str:
    """Return "early" (resolved on an earlier date than due), "on_time" or "late"."""
    if resolved_at.date() < due_at.date():
        return "early"
    return "on_time" if resolved_at <= due_at else "late"
