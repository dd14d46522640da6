"""Report figures (form II.06a, Decision 766 on-time rate, ratings): each figure on hand-built
dossiers, then the SQL path against the Python definition on randomised dossiers."""
from __future__ import annotations

import json
import random
import sqlite3
from datetime import date, datetime, timedelta

import pytest
from sqlite_utils import Database

from domain import reports, workflow
from domain.calendar import WorkCalendar, load_default_calendar
from domain.catalogue import load_sample_catalogue
from domain.dossier import apply_event, project
from domain.reports import Figures, Period

JAN = (date(2026, 1, 1), date(2026, 1, 31))
AFTER = datetime(2026, 3, 1, 12, 0)  # long after January: "as of" is the period's end


def dossier(received_at="2026-01-10T09:00:00", due_at="2026-01-15T09:00:00", *, status=4, channel="in_person",
            resolved_at=None, result_class=None, withdrawn_at=None, supplements=(), returned_at=None, rating=None,
            agency="000.00.06.H56", field="Hộ tịch", code=None):
    """A full dossier state (only what reports read is meaningful)."""
    sups = [{"requested_at": a, "returned_at": b, "items": "x", "reason": "y", "officer": ""}
            for a, b in supplements]
    return {
        "code": code or f"{agency}-260110-{random.randint(1, 9999):04d}", "agency": agency,
        "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh", "field": field,
        "channel": channel, "status": status, "handler": None, "holder": "node",
        "received_at": received_at, "due_at": due_at, "resolved_at": resolved_at, "returned_at": returned_at,
        "result_class": result_class, "rating": rating, "supplement_count": len(sups), "supplements": sups,
        "paused_at": sups[-1]["requested_at"] if sups and sups[-1]["returned_at"] is None else None,
        "withdrawal": {"at": withdrawn_at, "reason": "Công dân xin rút"} if withdrawn_at else None,
        "stop": None, "updated_at": "2026-01-10T09:00:00",
        "applicant": {"name": "Nguyễn Văn An", "id_number": "001203004567", "phone": "0912345678",
                      "address": "", "email": ""},
    }


def figs(*states, start=JAN[0], end=JAN[1], now=AFTER) -> Figures:
    return reports.figures([reports.row_from_state(s) for s in states], start, end, now)


def only(figures: Figures, **expected):
    """Every count is zero except those named."""
    actual = {k: v for k, v in figures.as_dict().items() if k in Figures.__dataclass_fields__ and v}
    assert actual == expected


# --- each figure on hand-built dossiers ---------------------------------------------------------

def test_a_dossier_received_in_the_period_counts_by_channel():
    f = figs(dossier(channel="in_person"), dossier(channel="online"), dossier(channel="post"),
             dossier(channel="post"))
    assert (f.received_in_person, f.received_online, f.received_post, f.received) == (1, 1, 2, 4)
    assert f.carried_over == 0


def test_received_before_the_period_and_resolved_inside_it_is_carried_over_and_resolved():
    f = figs(dossier("2025-12-29T09:00:00", "2026-01-05T09:00:00", status=9,
                     resolved_at="2026-01-05T08:00:00", result_class="on_time"))
    only(f, carried_over=1, resolved_on_time=1, processing_seconds=7 * 86400 - 3600)
    assert f.handled == 1 and f.on_time_rate == 1.0


def test_received_and_finished_before_the_period_is_in_no_figure():
    f = figs(dossier("2025-12-01T09:00:00", status=10, resolved_at="2025-12-02T09:00:00", result_class="early",
                     returned_at="2025-12-03T09:00:00"),
             dossier("2025-12-01T09:00:00", status=8, withdrawn_at="2025-12-31T23:59:59"))
    assert f.is_empty() and f.on_time_rate is None and f.average_days is None


def test_received_after_the_period_is_in_no_figure():
    assert figs(dossier("2026-02-01T00:00:00")).is_empty()


def test_the_period_includes_its_last_day_and_excludes_the_next_midnight():
    f = figs(dossier("2026-01-31T23:59:59", "2026-02-03T09:00:00"), dossier("2026-01-01T00:00:00"))
    assert f.received == 2


def test_resolved_early_on_time_and_late_follow_the_result_class():
    f = figs(dossier(status=9, resolved_at="2026-01-12T09:00:00", result_class="early"),
             dossier(status=10, resolved_at="2026-01-15T09:00:00", result_class="on_time",
                     returned_at="2026-01-16T09:00:00"),
             dossier(status=9, resolved_at="2026-01-20T09:00:00", result_class="late"))
    assert (f.resolved_early, f.resolved_on_time, f.resolved_late, f.resolved) == (1, 1, 1, 3)
    assert f.pending == 0 and f.on_time == 2 and f.handled == 3
    assert f.on_time_rate == pytest.approx(2 / 3)
    assert f.average_days == round((2 + 5 + 10) / 3, 2)


def test_resolved_after_the_period_is_still_pending_at_its_end():
    f = figs(dossier(due_at="2026-02-10T09:00:00", status=9, resolved_at="2026-02-05T09:00:00",
                     result_class="early"))
    only(f, received_in_person=1, pending_within=1)


def test_pending_overdue_at_the_period_end():
    f = figs(dossier(due_at="2026-01-30T17:00:00"), dossier(due_at="2026-02-02T17:00:00"))
    only(f, received_in_person=2, pending_overdue=1, pending_within=1)
    assert f.on_time == 1 and f.handled == 2 and f.on_time_rate == 0.5


def test_a_due_time_at_the_first_instant_after_the_period_is_not_overdue():
    assert figs(dossier(due_at="2026-02-01T00:00:00")).pending_within == 1


def test_overdue_is_judged_now_when_the_period_has_not_ended():
    state = dossier(due_at="2026-01-20T09:00:00")
    assert figs(state, now=datetime(2026, 1, 20, 9, 0)).pending_within == 1  # exactly due: not yet late
    assert figs(state, now=datetime(2026, 1, 20, 9, 1)).pending_overdue == 1


def test_a_dossier_paused_at_the_end_is_paused_not_overdue():
    f = figs(dossier(due_at="2026-01-20T09:00:00", status=5, supplements=[("2026-01-14T09:00:00", None)]))
    only(f, received_in_person=1, paused=1)
    assert f.on_time == 1 and f.pending == 1


def test_a_pause_that_started_after_the_due_time_counts_as_late_in_the_rate():
    f = figs(dossier(due_at="2026-01-12T09:00:00", status=5, supplements=[("2026-01-14T09:00:00", None)]))
    only(f, received_in_person=1, paused=1, paused_late=1)
    assert f.on_time == 0 and f.on_time_rate == 0.0


def test_a_pause_that_ended_before_the_period_end_no_longer_pauses():
    f = figs(dossier(due_at="2026-01-20T09:00:00", supplements=[("2026-01-12T09:00:00", "2026-01-13T09:00:00")]))
    only(f, received_in_person=1, pending_overdue=1)


def test_a_pause_still_running_at_the_period_end_but_resumed_later_was_paused():
    f = figs(dossier(due_at="2026-02-20T09:00:00",
                     supplements=[("2026-01-30T09:00:00", "2026-02-03T09:00:00")]))
    only(f, received_in_person=1, paused=1)


def test_withdrawn_in_the_period():
    f = figs(dossier(status=7, withdrawn_at="2026-01-12T10:00:00"),
             dossier("2025-12-20T10:00:00", status=8, withdrawn_at="2026-01-03T10:00:00"))
    only(f, received_in_person=1, carried_over=1, withdrawn=2)
    assert f.handled == 0 and f.on_time_rate is None


def test_withdrawn_after_the_period_is_pending_at_its_end():
    f = figs(dossier(due_at="2026-02-20T09:00:00", status=8, withdrawn_at="2026-02-02T10:00:00"))
    only(f, received_in_person=1, pending_within=1)


def test_carried_over_plus_received_balances_resolved_withdrawn_and_pending():
    states = [dossier("2025-12-30T09:00:00", "2026-01-06T09:00:00"),
              dossier("2025-12-30T09:00:00", status=9, resolved_at="2026-01-02T09:00:00", result_class="early"),
              dossier(status=7, withdrawn_at="2026-01-12T10:00:00"),
              dossier(due_at="2026-02-10T09:00:00"),
              dossier(status=5, supplements=[("2026-01-11T09:00:00", None)])]
    f = figs(*states)
    assert f.carried_over + f.received == f.resolved + f.withdrawn + f.pending == 5


def test_on_time_rate_is_resolved_on_or_before_due_plus_in_progress_not_yet_due_over_handled():
    states = [dossier(status=9, resolved_at="2026-01-12T09:00:00", result_class="early"),
              dossier(status=9, resolved_at="2026-01-15T09:00:00", result_class="on_time"),
              dossier(status=9, resolved_at="2026-01-25T09:00:00", result_class="late"),
              dossier(due_at="2026-02-05T09:00:00"),              # in progress, not yet due
              dossier(due_at="2026-01-20T09:00:00"),              # in progress, overdue
              dossier(status=7, withdrawn_at="2026-01-12T10:00:00")]  # not scored
    f = figs(*states)
    assert (f.on_time, f.handled) == (3, 5)
    assert f.on_time_rate == 0.6 and f.as_dict()["on_time_rate"] == 0.6


def test_more_than_one_supplement_request_before_the_end_is_counted():
    twice = dossier(due_at="2026-02-20T09:00:00", supplements=[("2026-01-11T09:00:00", "2026-01-12T09:00:00"),
                                                               ("2026-01-13T09:00:00", "2026-01-14T09:00:00")])
    second_later = dossier(due_at="2026-02-20T09:00:00", supplements=[
        ("2026-01-11T09:00:00", "2026-01-12T09:00:00"), ("2026-02-03T09:00:00", "2026-02-04T09:00:00")])
    assert figs(twice).repeat_supplements == 1
    assert figs(second_later).repeat_supplements == 0


def test_an_online_dossier_not_yet_accepted_is_not_received():
    assert figs(dossier(None, None, status=1, channel="online")).is_empty()


def test_grouped_gives_the_ii06a_table_per_commune_and_field_with_totals():
    a, b = "000.00.06.H56", "000.00.07.H56"
    states = [dossier(agency=a, field="Hộ tịch"), dossier(agency=a, field="Hộ tịch"),
              dossier(agency=a, field="Chứng thực"), dossier(agency=b, field="Đất đai"),
              dossier("2025-01-01T09:00:00", agency=b, field="Bảo trợ xã hội", status=9,
                      resolved_at="2025-01-02T09:00:00", result_class="early")]  # finished long ago: no row
    table = reports.grouped([reports.row_from_state(s) for s in states], *JAN, AFTER)
    assert list(table.groups) == [(a, "Chứng thực"), (a, "Hộ tịch"), (b, "Đất đai")]  # "Đ" sorts as "D"
    assert table.groups[(a, "Hộ tịch")].received == 2
    assert table.total.received == 4
    assert table.subtotals() == {(a,): table.groups[(a, "Chứng thực")] + table.groups[(a, "Hộ tịch")],
                                 (b,): table.groups[(b, "Đất đai")]}
    doc = table.to_dict({"agency": {a: "UBND xã Hòa Bình"}})
    assert doc["rows"][0]["agency_name"] == "UBND xã Hòa Bình" and doc["rows"][2]["agency_name"] == b
    assert doc["total"]["received"] == 4 and doc["period"] == {"from": "2026-01-01", "to": "2026-01-31",
                                                               "as_of": "2026-02-01T00:00:00"}


def test_ratings_count_each_level_of_results_returned_in_the_period():
    states = [dossier(status=10, resolved_at="2026-01-12T09:00:00", result_class="early",
                      returned_at="2026-01-13T09:00:00", rating=r) for r in (5, 5, 4, 1, None)]
    states.append(dossier(status=10, resolved_at="2026-01-12T09:00:00", result_class="early",
                          returned_at="2026-02-01T09:00:00", rating=3))  # returned after the period
    r = reports.ratings([reports.row_from_state(s) for s in states], *JAN)
    assert r.counts == {5: 2, 4: 1, 3: 0, 2: 0, 1: 1} and r.unrated == 1 and r.rated == 4
    assert r.average == 3.75 and r.satisfied_rate == 0.75
    assert r.as_dict()["counts"] == {"5": 2, "4": 1, "3": 0, "2": 0, "1": 1}


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError):
        Period(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="Ngày kết thúc"):
        reports.parse_period("2026-02-01", "2026-01-01", date(2026, 3, 1))


def test_parse_period_defaults_to_this_month_so_far_and_reads_vietnamese_dates():
    assert reports.parse_period(None, "", date(2026, 3, 17)) == Period(date(2026, 3, 1), date(2026, 3, 17))
    assert reports.parse_period("01/02/2026", "28/02/2026", date(2026, 3, 17)) == \
        Period(date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ValueError, match="không hợp lệ"):
        reports.parse_period("hôm qua", None, date(2026, 3, 17))


def test_grouping_by_an_unknown_column_is_refused():
    with pytest.raises(ValueError):
        reports.figures_sql(sqlite3.connect(":memory:"), *JAN, AFTER, key=("doc; DROP TABLE x",))
    with pytest.raises(ValueError):
        reports.figures_sql(sqlite3.connect(":memory:"), *JAN, AFTER, filters={"1=1 OR agency": "x"})


# --- SQL == Python -------------------------------------------------------------------------------

def node_db() -> sqlite3.Connection:
    from migrations.node import migrations
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    migrations.apply(Database(conn))
    return conn


def insert(conn, states):
    rows = []
    for s in states:
        row = project(s)
        row["doc"] = json.dumps(s, ensure_ascii=False)
        rows.append(row)
    columns = list(rows[0])
    conn.executemany(f"INSERT INTO dossiers({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     [tuple(r[c] for c in columns) for r in rows])


AGENCIES = ("000.00.06.H56", "000.00.07.H56", "000.00.08.H56")
CAL_VERSION, CAL_ENTRIES = load_default_calendar()
CALENDAR = WorkCalendar(CAL_ENTRIES, version=CAL_VERSION)
PROCEDURES = load_sample_catalogue()[1]


def simulate(seed: int, count: int) -> list[dict]:
    """Dossiers driven through the real workflow at random moments around January 2026.

    Moments are often exactly on the period's boundaries (midnight of 1 Jan / 1 Feb) to test them.
    """
    rng = random.Random(seed)
    base = datetime(2025, 12, 1, 7, 0)
    boundaries = [datetime(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 1, 31, 23, 59, 59)]
    states = []
    for n in range(count):
        procedure = rng.choice(PROCEDURES)
        agency = rng.choice(AGENCIES)
        now = rng.choice(boundaries) if rng.random() < 0.1 else base + timedelta(minutes=rng.randrange(90 * 1440))
        online = rng.random() < 0.2
        change = workflow.receive(
            procedure=procedure, applicant={"name": "Trần Thị Bình", "id_number": "001203004567",
                                            "phone": "0912345678", "address": "Thôn Đông", "email": ""},
            documents=[{"name": "Tờ khai", "kind": "original", "count": 1}],
            channel="online" if online else rng.choice(("in_person", "in_person", "post")), return_method="desk",
            code=f"{agency}-{n:06d}-0001", agency=agency, now=now, calendar=CALENDAR, catalogue_version=1,
            actor="lan", register_no=n, online=online)
        state = apply_event(None, {"type": change.type, "data": change.data, "at": workflow.iso(now),
                                   "dossier": change.data["dossier"]["code"]})
        for _ in range(rng.randrange(9)):
            step = rng.choice([timedelta(minutes=rng.randrange(1, 60 * 24 * 12)), timedelta(0),
                               None])  # None: jump onto a period boundary if it is ahead
            if step is None:
                ahead = [b for b in boundaries if b > now]
                if not ahead:
                    continue
                now = rng.choice(ahead)
            else:
                now += step
            actions = [a for a in workflow.available_actions(state)
                       if a not in ("hand_off", "hand_back", "hand_up", "extend", "assign", "fee", "fee_paid")]
            if state["status"] == 4 and rng.random() < 0.2:
                actions.append("extend")
            if not actions:
                break
            action = rng.choice(actions)
            params = {"reasons": "Thiếu giấy tờ", "items": "CCCD", "reason": "Bổ sung", "days": rng.randint(1, 3),
                      "rating": rng.choice(["", "1", "2", "3", "4", "5"])}
            try:
                change = workflow.ACTIONS[action][0](state, params, now, CALENDAR, procedure)
            except workflow.WorkflowError:
                continue
            state = apply_event(state, {"type": change.type, "data": change.data, "at": workflow.iso(now),
                                        "dossier": state["code"]})
        states.append(state)
    return states


PERIODS = [(date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 1, 15), date(2026, 1, 15)),
           (date(2025, 12, 1), date(2026, 3, 31)), (date(2026, 2, 1), date(2026, 12, 31))]
NOWS = [datetime(2026, 6, 1), datetime(2026, 1, 20, 10, 30), datetime(2026, 1, 31, 23, 59, 59)]


@pytest.mark.parametrize("seed", range(6))
def test_the_sql_figures_equal_the_python_figures_on_random_dossiers(seed):
    states = simulate(seed, 600)
    conn = node_db()
    insert(conn, states)
    if seed % 2:  # the covering index a long period reads when the schema has it (same answers)
        conn.execute(f"CREATE INDEX {reports.REPORT_INDEX} ON dossiers({', '.join(reports.REPORT_INDEX_COLUMNS)})")
        conn.execute("CREATE INDEX dossiers_returned ON dossiers(returned_at, rating)")
    rows = [reports.row_from_state(s) for s in states]
    from_records = [reports.row_from_record(r) for r in conn.execute(
        f"SELECT {reports.REPORT_COLUMNS} FROM dossiers")]
    assert sorted(map(repr, from_records)) == sorted(map(repr, rows))
    for start, end in PERIODS:
        for now in NOWS:
            for key in [("agency", "field"), ("agency",), ()]:
                python = reports.grouped(rows, start, end, now, key=key)
                sql = reports.figures_sql(conn, start, end, now, key=key)
                assert sql == python, (start, end, now, key)
            agency = AGENCIES[seed % 3]
            only_one = reports.figures_sql(conn, start, end, now, key=("field",), filters={"agency": agency})
            assert only_one == reports.grouped([r for r in rows if r["agency"] == agency], start, end, now,
                                               key=("field",))
            assert reports.ratings_sql(conn, start, end) == reports.ratings(rows, start, end)


def test_the_random_dossiers_reach_every_figure_so_their_agreement_means_something():
    rows = [reports.row_from_state(s) for seed in range(6) for s in simulate(seed, 600)]
    wide = reports.figures(rows, date(2025, 12, 15), date(2026, 1, 31), datetime(2026, 6, 1))
    assert all(getattr(wide, name) > 0 for name in Figures.__dataclass_fields__), wide


def test_the_sql_figures_equal_the_python_figures_on_hand_built_edge_cases():
    states = [dossier("2026-01-01T00:00:00", "2026-01-01T00:00:00", code="a"),
              dossier("2025-12-31T23:59:59", status=9, resolved_at="2026-01-01T00:00:00", result_class="late",
                      code="b"),
              dossier("2025-12-31T23:59:59", status=9, resolved_at="2025-12-31T23:59:59", result_class="late",
                      code="c"),
              dossier(status=5, supplements=[("2026-01-12T00:00:00", "2026-01-13T00:00:00"),
                                             ("2026-02-01T00:00:00", None)], code="d"),
              dossier(status=5, supplements=[("2026-01-12T00:00:00", "2026-02-01T00:00:00"),
                                             ("2026-02-03T00:00:00", None)], code="e"),
              dossier(status=8, withdrawn_at="2026-02-01T00:00:00", code="f"),
              dossier(status=8, withdrawn_at="2026-01-01T00:00:00", code="g"),
              dossier("2026-01-20T09:00:00", None, status=2, code="h", channel="weird")]
    conn = node_db()
    insert(conn, states)
    rows = [reports.row_from_state(s) for s in states]
    for now in NOWS:
        assert reports.figures_sql(conn, *JAN, now) == reports.grouped(rows, *JAN, now)
    f = reports.figures_sql(conn, *JAN, AFTER, key=()).total
    assert (f.carried_over, f.resolved_late, f.paused, f.withdrawn) == (1, 1, 1, 1)
