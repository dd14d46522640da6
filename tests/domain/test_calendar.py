from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import (
    DEFAULT_HOURS,
    LIMIT_UNITS,
    CalendarEntry,
    CalendarError,
    WorkCalendar,
    classify_resolution,
    default_calendar,
    due_time,
    extend_by_working_days,
    extend_for_pause,
    load_default_calendar,
    parse_entries,
    parse_hours,
)

CAL = default_calendar()
CUSTOM_HOURS = "07:30-11:30,13:00-16:30"


def dt(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


def due(received, value, unit, calendar=CAL):
    return due_time(dt(received), value, unit, calendar)


# --- working-day limits ---------------------------------------------------------------------------

def test_default_hours_give_480_working_minutes_a_day():
    assert CAL.minutes_per_day == 480
    assert CAL.hours == ((time(7, 0), time(11, 30)), (time(13, 30), time(17, 0)))


def test_monday_0900_intake_with_three_working_days_is_due_thursday_0900():
    assert due("2026-03-02 09:00", 3, "working_days") == dt("2026-03-05 09:00")


def test_friday_1650_intake_with_one_working_day_is_due_monday_1650():
    assert due("2026-03-06 16:50", 1, "working_days") == dt("2026-03-09 16:50")


def test_friday_1705_intake_with_one_working_day_is_due_at_the_end_of_monday():
    assert due("2026-03-06 17:05", 1, "working_days") == dt("2026-03-09 17:00")


def test_intake_before_0700_starts_the_clock_at_0700_and_one_day_ends_the_same_evening():
    assert due("2026-03-03 06:15", 1, "working_days") == dt("2026-03-03 17:00")


def test_intake_during_lunch_break_starts_the_clock_at_1330():
    assert CAL.next_working_moment(dt("2026-03-03 12:00")) == dt("2026-03-03 13:30")
    # 13:30-17:00 Tuesday + 07:00-11:30 Wednesday is one full working day; it ends at 11:30, not 13:30.
    assert due("2026-03-03 12:00", 1, "working_days") == dt("2026-03-04 11:30")
    assert due("2026-03-03 12:00", 2, "working_hours") == dt("2026-03-03 15:30")


def test_intake_on_a_sunday_starts_counting_monday_morning():
    assert due("2026-03-08 10:00", 2, "working_days") == dt("2026-03-10 17:00")


def test_three_working_days_from_the_friday_before_tet_2026_are_due_wednesday_after_tet():
    assert due("2026-02-13 10:00", 3, "working_days") == dt("2026-02-25 10:00")


def test_one_working_day_from_friday_9_january_2026_is_due_on_the_worked_saturday():
    assert due("2026-01-09 10:00", 1, "working_days") == dt("2026-01-10 10:00")


def test_new_year_2026_holiday_and_substitute_day_off_on_2_january_are_skipped():
    assert due("2025-12-31 10:00", 1, "working_days") == dt("2026-01-05 10:00")


def test_hung_kings_substitute_day_off_on_27_april_2026_is_skipped():
    assert due("2026-04-24 10:00", 1, "working_days") == dt("2026-04-28 10:00")


def test_a_limit_that_exactly_fills_the_morning_ends_at_1130_not_at_1330():
    assert CAL.add_working_minutes(dt("2026-03-03 07:00"), 270) == dt("2026-03-03 11:30")
    assert due("2026-03-03 09:30", 2, "working_hours") == dt("2026-03-03 11:30")


# --- working-hour limits --------------------------------------------------------------------------

def test_two_working_hours_from_1030_cross_lunch_and_end_at_1430():
    assert due("2026-03-03 10:30", 2, "working_hours") == dt("2026-03-03 14:30")


def test_four_working_hours_from_friday_1600_end_monday_1000():
    assert due("2026-03-06 16:00", 4, "working_hours") == dt("2026-03-09 10:00")


# --- same-day limits ------------------------------------------------------------------------------

def test_same_day_procedure_received_at_1459_is_due_at_1700_that_day():
    assert due("2026-03-03 14:59", 0, "same_day") == dt("2026-03-03 17:00")


@pytest.mark.parametrize("received", ["2026-03-03 15:00", "2026-03-03 15:30", "2026-03-03 18:00"])
def test_same_day_procedure_received_at_or_after_1500_is_due_at_1700_the_next_working_day(received):
    assert due(received, 0, "same_day") == dt("2026-03-04 17:00")


def test_same_day_procedure_received_before_0700_is_due_at_1700_that_day():
    assert due("2026-03-03 06:30", 0, "same_day") == dt("2026-03-03 17:00")


def test_same_day_procedure_received_on_a_saturday_is_due_monday_1700():
    assert due("2026-03-07 10:00", 0, "same_day") == dt("2026-03-09 17:00")


def test_same_day_procedure_received_friday_1530_is_due_monday_1700():
    assert due("2026-03-06 15:30", 0, "same_day") == dt("2026-03-09 17:00")


def test_same_day_procedure_received_on_the_worked_saturday_is_due_that_evening():
    assert due("2026-01-10 09:00", 0, "same_day") == dt("2026-01-10 17:00")


def test_same_day_cutoff_is_configurable():
    assert due_time(dt("2026-03-03 15:30"), 0, "same_day", CAL, same_day_cutoff=time(16, 0)) == dt("2026-03-03 17:00")


@pytest.mark.parametrize("unit", ["working_days", "working_hours", "calendar_days"])
def test_a_zero_limit_means_same_day(unit):
    assert due("2026-03-03 10:00", 0, unit) == dt("2026-03-03 17:00")
    assert due("2026-03-03 15:10", 0, unit) == dt("2026-03-04 17:00")


# --- calendar-day limits --------------------------------------------------------------------------

def test_calendar_day_limit_ending_on_a_sunday_moves_to_monday():
    assert due("2026-03-02 10:00", 6, "calendar_days") == dt("2026-03-09 10:00")


def test_calendar_day_limit_ending_on_30_april_moves_past_the_holidays_and_weekend():
    assert due("2026-04-23 09:00", 7, "calendar_days") == dt("2026-05-04 09:00")


def test_calendar_day_limit_received_after_hours_counts_from_the_next_working_morning():
    assert due("2026-03-06 17:30", 3, "calendar_days") == dt("2026-03-12 07:00")


# --- bad arguments --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, unit, message",
    [
        (-1, "working_days", "whole number >= 0"),
        (1.5, "working_days", "whole number >= 0"),
        (True, "working_days", "whole number >= 0"),
        (3, "weeks", "unknown time-limit unit 'weeks'"),
    ],
)
def test_due_time_refuses_negative_values_and_unknown_units(value, unit, message):
    with pytest.raises(CalendarError, match=message):
        due_time(dt("2026-03-03 10:00"), value, unit, CAL)


# --- supplement pauses and extensions -------------------------------------------------------------

def test_supplement_pause_over_a_weekend_adds_nothing():
    due_at = dt("2026-03-11 10:00")
    assert extend_for_pause(due_at, dt("2026-03-06 17:00"), dt("2026-03-09 07:00"), CAL) == due_at
    assert extend_for_pause(due_at, dt("2026-03-07 10:00"), dt("2026-03-08 15:00"), CAL) == due_at


def test_supplement_pause_of_two_working_hours_moves_the_due_time_by_two_working_hours():
    paused, resumed = dt("2026-03-03 10:30"), dt("2026-03-03 14:30")  # 60 + 60 working minutes
    assert CAL.working_minutes_between(paused, resumed) == 120
    assert extend_for_pause(dt("2026-03-05 16:00"), paused, resumed, CAL) == dt("2026-03-06 08:00")
    assert extend_for_pause(dt("2026-03-05 11:00"), paused, resumed, CAL) == dt("2026-03-05 15:00")


def test_supplement_pause_from_friday_afternoon_to_monday_morning_counts_only_working_minutes():
    paused, resumed = dt("2026-03-06 16:00"), dt("2026-03-09 08:00")  # 60 + 60
    assert extend_for_pause(dt("2026-03-10 17:00"), paused, resumed, CAL) == dt("2026-03-11 09:00")


def test_extension_by_two_working_days_from_friday_evening_is_due_tuesday_evening():
    assert extend_by_working_days(dt("2026-03-06 17:00"), 2, CAL) == dt("2026-03-10 17:00")


def test_extension_by_one_working_day_skips_30_april_1_may_and_the_weekend():
    assert extend_by_working_days(dt("2026-04-29 10:00"), 1, CAL) == dt("2026-05-04 10:00")


@pytest.mark.parametrize("days", [0, -2])
def test_extension_needs_at_least_one_working_day(days):
    with pytest.raises(CalendarError, match=">= 1"):
        extend_by_working_days(dt("2026-03-06 17:00"), days, CAL)


# --- resolution class and overdue -----------------------------------------------------------------

@pytest.mark.parametrize(
    "resolved, expected",
    [
        ("2026-03-04 16:59", "early"),
        ("2026-03-05 07:00", "on_time"),
        ("2026-03-05 10:00", "on_time"),
        ("2026-03-05 10:01", "late"),
        ("2026-03-06 08:00", "late"),
    ],
)
def test_classify_resolution_is_early_on_an_earlier_date_on_time_up_to_the_due_time_else_late(resolved, expected):
    assert classify_resolution(dt(resolved), dt("2026-03-05 10:00")) == expected


# --- working time and minutes ---------------------------------------------------------------------

def test_working_time_is_a_closed_interval_on_working_days_only():
    assert CAL.is_working_time(dt("2026-03-03 07:00"))
    assert CAL.is_working_time(dt("2026-03-03 11:30"))
    assert CAL.is_working_time(dt("2026-03-03 17:00"))
    assert not CAL.is_working_time(dt("2026-03-03 12:00"))
    assert not CAL.is_working_time(dt("2026-03-03 17:01"))
    assert not CAL.is_working_time(dt("2026-03-07 10:00"))  # Saturday
    assert CAL.is_working_time(dt("2026-01-10 10:00"))  # worked Saturday
    assert not CAL.is_working_time(dt("2026-02-18 10:00"))  # Tết


def test_next_working_moment_at_the_end_of_the_day_is_the_next_working_morning():
    assert CAL.next_working_moment(dt("2026-03-06 17:00")) == dt("2026-03-09 07:00")
    assert CAL.next_working_moment(dt("2026-03-06 16:59")) == dt("2026-03-06 16:59")
    assert CAL.next_working_moment(dt("2026-03-06 11:30")) == dt("2026-03-06 13:30")


def test_working_minutes_between_counts_only_working_periods():
    assert CAL.working_minutes_between(dt("2026-03-02 00:00"), dt("2026-03-03 00:00")) == 480
    assert CAL.working_minutes_between(dt("2026-03-02 00:00"), dt("2026-03-09 00:00")) == 5 * 480
    assert CAL.working_minutes_between(dt("2026-03-03 10:00"), dt("2026-03-03 10:00")) == 0
    assert CAL.working_minutes_between(dt("2026-03-03 11:00"), dt("2026-03-03 10:00")) == 0


def test_next_working_day_skips_tet_2026():
    assert CAL.next_working_day(date(2026, 2, 13)) == date(2026, 2, 13)
    assert CAL.next_working_day(date(2026, 2, 13), strictly_after=True) == date(2026, 2, 23)


# --- custom node hours ----------------------------------------------------------------------------

def test_custom_node_hours_change_the_working_day_length_and_due_times():
    cal = WorkCalendar(load_default_calendar()[1], hours=CUSTOM_HOURS, version=1)
    assert cal.minutes_per_day == 450
    assert due_time(dt("2026-03-06 16:20"), 1, "working_days", cal) == dt("2026-03-09 16:20")
    assert due_time(dt("2026-03-03 11:00"), 1, "working_hours", cal) == dt("2026-03-03 13:30")
    assert due_time(dt("2026-03-03 14:00"), 0, "same_day", cal) == dt("2026-03-03 16:30")
    assert due_time(dt("2026-03-03 07:00"), 1, "working_days", cal) == dt("2026-03-03 16:30")
    assert not cal.is_working_time(dt("2026-03-03 16:45"))


def test_work_calendar_accepts_already_parsed_hours():
    assert WorkCalendar(hours=parse_hours(CUSTOM_HOURS)).minutes_per_day == 450


# --- parsing --------------------------------------------------------------------------------------

def test_parse_hours_reads_comma_separated_periods():
    assert parse_hours(" 07:30-11:30, 13:00-16:30 ") == ((time(7, 30), time(11, 30)), (time(13, 0), time(16, 30)))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "non-empty"),
        ("7:00-11:30", r"'7:00-11:30' is not in the form HH:MM-HH:MM"),
        ("07:00-11:30;13:30-17:00", "not in the form HH:MM-HH:MM"),
        ("07:00-11:30,", "'' is not in the form"),
        ("11:30-07:00", "11:30-07:00 must start before it ends"),
        ("07:00-07:00", "must start before it ends"),
        ("07:00-12:00,11:00-17:00", "11:00-17:00 starts before the previous period ends at 12:00"),
        ("13:30-17:00,07:00-11:30", "must be in order"),
        ("25:00-26:00", "impossible time"),
        ("07:60-08:00", "impossible time"),
    ],
)
def test_parse_hours_refuses_bad_input_with_a_clear_message(text, message):
    with pytest.raises(CalendarError, match=message):
        parse_hours(text)


def test_parse_entries_reads_and_sorts_entries():
    entries = parse_entries([
        {"date": "2026-01-10", "kind": "workday", "name": "Làm bù"},
        {"date": "2026-01-01", "kind": "holiday", "name": "Tết Dương lịch", "source": "ignored"},
        {"date": "2026-01-02", "kind": "substitute"},
    ])
    assert entries == [
        CalendarEntry(date(2026, 1, 1), "holiday", "Tết Dương lịch"),
        CalendarEntry(date(2026, 1, 2), "substitute", ""),
        CalendarEntry(date(2026, 1, 10), "workday", "Làm bù"),
    ]


GOOD = {"date": "2026-01-01", "kind": "holiday", "name": "Tết Dương lịch"}


@pytest.mark.parametrize(
    "second, message",
    [
        ({"date": "2026-02-30", "kind": "holiday"}, r"entry #2 \(date '2026-02-30'\): no such date"),
        ({"date": "2026/02/03", "kind": "holiday"}, r"entry #2 \(date '2026/02/03'\): date must be written YYYY-MM-DD"),
        ({"kind": "holiday"}, r"entry #2 \(date None\): date must be written"),
        ({"date": "2026-02-03", "kind": "vacation"}, r"entry #2 \(date '2026-02-03'\): unknown kind 'vacation'"),
        ({"date": "2026-01-01", "kind": "holiday"},
         r"entry #2 \(date '2026-01-01'\): duplicate date, already given by entry #1"),
        ({"date": "2026-01-03", "kind": "substitute"}, r"entry #2 .*must fall on Monday-Friday"),
        ({"date": "2026-01-05", "kind": "workday"}, r"entry #2 .*must fall on a Saturday or Sunday"),
        ({"date": "2026-02-03", "kind": "holiday", "name": 5}, r"entry #2 .*name must be text"),
        ("2026-02-03", r"entry #2 must be an object"),
    ],
)
def test_parse_entries_refuses_bad_input_naming_the_entry(second, message):
    with pytest.raises(CalendarError, match=message):
        parse_entries([GOOD, second])


def test_parse_entries_refuses_something_that_is_not_a_list():
    with pytest.raises(CalendarError, match="must be a list"):
        parse_entries({"entries": []})


def test_work_calendar_refuses_two_entries_for_the_same_date():
    entry = CalendarEntry(date(2026, 1, 1), "holiday")
    with pytest.raises(CalendarError, match="duplicate calendar entry for 2026-01-01"):
        WorkCalendar([entry, entry])


# --- shipped default calendar ---------------------------------------------------------------------

def test_default_calendar_covers_2026_and_2027_with_known_2026_facts():
    version, entries = load_default_calendar()
    assert version == 1 and CAL.version == 1
    assert {e.day.year for e in entries} == {2026, 2027}
    kinds = {e.day: e.kind for e in entries}
    assert kinds[date(2026, 1, 1)] == "holiday"
    assert kinds[date(2026, 1, 2)] == "substitute"
    assert kinds[date(2026, 1, 10)] == "workday"
    assert all(not CAL.is_working_day(date(2026, 2, d)) for d in range(14, 23))
    assert kinds[date(2026, 4, 26)] == "holiday" and kinds[date(2026, 4, 27)] == "substitute"
    for day in (date(2026, 4, 30), date(2026, 5, 1), date(2026, 9, 1), date(2026, 9, 2)):
        assert kinds[day] == "holiday"
    assert kinds[date(2027, 5, 3)] == "substitute"
    assert CAL.entry(date(2026, 9, 2)).name == "Quốc khánh"


# --- properties -----------------------------------------------------------------------------------

CALENDARS = {hours: WorkCalendar(load_default_calendar()[1], hours=hours, version=1)
             for hours in (DEFAULT_HOURS, CUSTOM_HOURS, "08:00-12:00")}

moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@settings(max_examples=300, deadline=None)
@given(received=moments, value=st.integers(0, 30), unit=st.sampled_from(LIMIT_UNITS),
       hours=st.sampled_from(sorted(CALENDARS)))
def test_due_time_is_always_working_time_and_never_before_receipt(received, value, unit, hours):
    cal = CALENDARS[hours]
    due_at = due_time(received, value, unit, cal)
    assert cal.is_working_day(due_at.date())
    assert cal.is_working_time(due_at)
    assert due_at >= received


@settings(max_examples=300, deadline=None)
@given(received=moments, value=st.integers(0, 30), unit=st.sampled_from(LIMIT_UNITS),
       paused=moments, wait=st.integers(0, 30 * 24 * 60))
def test_extend_for_pause_never_moves_earlier_and_stays_in_working_time(received, value, unit, paused, wait):
    due_at = due_time(received, value, unit, CAL)
    resumed = paused + timedelta(minutes=wait)
    new_due = extend_for_pause(due_at, paused, resumed, CAL)
    assert new_due >= due_at
    assert CAL.is_working_time(new_due)
    assert CAL.working_minutes_between(due_at, new_due) == CAL.working_minutes_between(paused, resumed)


@settings(max_examples=300, deadline=None)
@given(start=moments, minutes=st.integers(0, 40 * 480))
def test_adding_working_minutes_and_counting_them_back_agree(start, minutes):
    end = CAL.add_working_minutes(start, minutes)
    assert CAL.working_minutes_between(CAL.next_working_moment(start), end) == minutes
    assert CAL.is_working_time(end)
