"""Report figures for a period: form II.06a, the on-time rate (Decision 766) and ratings.

One definition, written once, used by the commune node and by central, so both give the
same numbers for the same dossiers. It exists twice on purpose:

- ``figures`` / ``grouped`` / ``ratings`` work on plain dicts (``row_from_state`` builds one
  from a dossier's full state): the readable definition, used by tests and small callers;
- ``figures_sql`` / ``ratings_sql`` compute exactly the same numbers with one GROUP BY query
  over a ``dossiers`` table (node or central: both carry the same projection columns and the
  ``doc`` JSON), which is how central answers for a million dossiers. A randomised test
  asserts that both give identical results.

Everything compares ISO-8601 text (``YYYY-MM-DDTHH:MM:SS``, naive Vietnam time), the way the
rows store it, so Python and SQLite order instants the same way.

The period
----------
``period_start`` and ``period_end`` are dates, both included: the period is the half-open
interval ``[S, E)`` with ``S = period_start 00:00:00`` and ``E = (period_end + 1 day) 00:00:00``.
``as_of = min(E, now)`` is the moment at which "overdue" is judged: the period's end, or now if
the period has not ended yet (a dossier whose due time is still in the future is not overdue).

The row
-------
A row is a dict with these keys (``ROW_KEYS``):

``agency, field, channel, status, received_at, due_at, resolved_at, result_class, returned_at,
rating, supplement_count`` -- the projection columns of ``domain.dossier.project``;
``withdrawn_at`` -- ``doc.withdrawal.at`` when the status is 7 or 8, else None;
``supplements`` -- ``[(requested_at, returned_at | None), ...]`` from ``doc.supplements`` when
``supplement_count > 0``, else ``[]``.

SQL callers that build rows themselves must select ``REPORT_COLUMNS`` (which includes ``doc``)
and pass each record through ``row_from_record``.

Dossier life in time
--------------------
- *received*: ``received_at`` (for an online dossier, the moment the clerk accepted it). A row
  without it (status 1 waiting for acceptance, 3 refused at acceptance) is in no figure.
- *finished*: ``resolved_at`` (statuses 9, 10), else ``withdrawn_at`` (the citizen asked to
  withdraw: 7, then stopped: 8). Not finished: still open.
- *open at t*: received before t and not finished before t.

The figures (``Figures``)
-------------------------
- ``carried_over``: received before S and open at S.
- ``received_in_person`` / ``received_online`` / ``received_post``: received in [S, E), split by
  ``channel`` (anything other than "online" and "post" counts as in person).
- ``resolved_early`` / ``resolved_on_time`` / ``resolved_late``: ``resolved_at`` in [S, E),
  split by ``result_class`` (set when the dossier was resolved, see
  ``domain.calendar.classify_resolution``; anything other than "early"/"late" counts as on time).
- ``withdrawn``: ``withdrawn_at`` in [S, E).
- pending = open at E, split three ways (their sum is ``pending``):
  ``paused`` -- a supplement request covers E (requested before E, not returned before E): the
  clock is stopped, so a paused dossier is never "overdue" (as ``statuses.is_overdue``);
  ``pending_overdue`` -- not paused and ``due_at < as_of``;
  ``pending_within`` -- the rest (not paused, not yet due at ``as_of``).
  ``paused_late`` (a part of ``paused``): the pause started after the due time had passed, so
  the dossier was already late when it was paused.
- balance: ``carried_over + received == resolved + withdrawn + pending``.
- ``handled = resolved + pending`` (withdrawn dossiers are not scored).
- ``on_time = resolved_early + resolved_on_time + pending_within + (paused - paused_late)``:
  Decision 766/QĐ-TTg "dossiers resolved on or before due + dossiers still in progress and not
  yet due"; ``on_time_rate = on_time / handled``, None when nothing was handled.
- ``processing_seconds``: sum over the dossiers resolved in [S, E) of ``resolved_at -
  received_at`` in whole seconds; ``average_days`` = that / resolved / 86,400: the average
  processing time in *calendar* days (working days would need each side's calendar and could
  not be computed in SQL; the limits themselves are checked by ``result_class``).
- ``repeat_supplements``: handled dossiers with more than one supplement request made before E
  (more than one request counts against the desk in the official scoring).

Due times: the row's ``due_at`` is the dossier's latest due time. Due times only move later
(pauses, extensions); an extension can only be granted before the due time passes, so it never
hides a dossier that was overdue at E; only a pause that started after E can move it.

Ratings (``Ratings``): the counter satisfaction of dossiers whose result was returned
(``returned_at``) in [S, E): counts per level 1-5 and how many were returned without a rating.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from dataclasses import fields as dc_fields
from datetime import date, datetime, time, timedelta

from .text import fold

ROW_KEYS = ("agency", "field", "channel", "status", "received_at", "due_at", "resolved_at", "result_class",
            "returned_at", "rating", "supplement_count", "withdrawn_at", "supplements")
PROJECTION_KEYS = ROW_KEYS[:-2]
REPORT_COLUMNS = ", ".join(PROJECTION_KEYS + ("doc",))
WITHDRAWN_STATUSES = (7, 8)
# Columns a report may be grouped by or filtered on (also the SQL allow-list: never user text).
GROUP_COLUMNS = ("agency", "field", "channel", "node", "procedure_code")
DEFAULT_KEY = ("agency", "field")
RATING_LEVELS = (5, 4, 3, 2, 1)


# --- rows ---------------------------------------------------------------------------------------

def _supplement_pairs(items) -> list[tuple[str, str | None]]:
    return [(s.get("requested_at"), s.get("returned_at")) for s in items or [] if s.get("requested_at")]


def row_from_state(state: Mapping) -> dict:
    """The report row of a dossier's full state (``domain.dossier`` shape)."""
    row = {k: state.get(k) for k in PROJECTION_KEYS}
    count = row["supplement_count"] = row["supplement_count"] or 0
    withdrawal = state.get("withdrawal") or {}
    row["withdrawn_at"] = withdrawal.get("at") if state.get("status") in WITHDRAWN_STATUSES else None
    row["supplements"] = _supplement_pairs(state.get("supplements")) if count > 0 else []
    return row


def row_from_record(record: Mapping) -> dict:
    """The report row of a database record that has ``REPORT_COLUMNS`` (projection columns + doc)."""
    row = {k: record[k] for k in PROJECTION_KEYS}
    row["supplement_count"] = row["supplement_count"] or 0
    for extra in GROUP_COLUMNS:
        if extra not in row and extra in record.keys():  # noqa: SIM118  sqlite3.Row: `in` tests values, not names
            row[extra] = record[extra]
    need_doc = row["status"] in WITHDRAWN_STATUSES or row["supplement_count"] > 0
    doc = json.loads(record["doc"]) if need_doc else {}
    withdrawal = doc.get("withdrawal") or {}
    row["withdrawn_at"] = withdrawal.get("at") if row["status"] in WITHDRAWN_STATUSES else None
    row["supplements"] = _supplement_pairs(doc.get("supplements")) if row["supplement_count"] > 0 else []
    return row


# --- the period ---------------------------------------------------------------------------------

def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @property
    def start_iso(self) -> str:
        return _iso(datetime.combine(self.start, time.min))

    @property
    def end_iso(self) -> str:
        """The first instant after the period (exclusive bound)."""
        return _iso(datetime.combine(self.end + timedelta(days=1), time.min))

    def as_of(self, now: datetime) -> str:
        return min(self.end_iso, _iso(now))

    def to_dict(self, now: datetime) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "as_of": self.as_of(now)}


def parse_day(text: str) -> date:
    """A date typed as DD/MM/YYYY (the boxes' format) or YYYY-MM-DD (links); ValueError in Vietnamese."""
    text = (text or "").strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"Ngày “{text}” không hợp lệ: nhập theo dạng ngày/tháng/năm (dd/mm/yyyy), ví dụ 31/01/2026.")


def parse_period(start_text: str | None, end_text: str | None, today: date) -> Period:
    """Dates typed as DD/MM/YYYY (or YYYY-MM-DD); missing ones default to this month so far.

    Raises ValueError with a Vietnamese message.
    """
    def parse(text, default):
        return parse_day(text) if (text or "").strip() else default
    start = parse(start_text, today.replace(day=1))
    end = parse(end_text, max(today, start))
    if end < start:
        raise ValueError("Ngày kết thúc kỳ báo cáo phải sau ngày bắt đầu.")
    if (end - start).days > 3700:
        raise ValueError("Kỳ báo cáo không được dài quá 10 năm.")
    return Period(start, end)


# --- figures ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figures:
    carried_over: int = 0
    received_in_person: int = 0
    received_online: int = 0
    received_post: int = 0
    resolved_early: int = 0
    resolved_on_time: int = 0
    resolved_late: int = 0
    pending_within: int = 0
    pending_overdue: int = 0
    paused: int = 0
    paused_late: int = 0
    withdrawn: int = 0
    processing_seconds: int = 0
    repeat_supplements: int = 0

    @property
    def received(self) -> int:
        return self.received_in_person + self.received_online + self.received_post

    @property
    def total(self) -> int:
        """All dossiers to handle in the period: carried over + received (II.06a "Tổng số")."""
        return self.carried_over + self.received

    @property
    def resolved(self) -> int:
        return self.resolved_early + self.resolved_on_time + self.resolved_late

    @property
    def pending(self) -> int:
        return self.pending_within + self.pending_overdue + self.paused

    @property
    def handled(self) -> int:
        return self.resolved + self.pending

    @property
    def on_time(self) -> int:
        return self.resolved_early + self.resolved_on_time + self.pending_within + self.paused - self.paused_late

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.handled if self.handled else None

    @property
    def average_days(self) -> float | None:
        return round(self.processing_seconds / self.resolved / 86400, 2) if self.resolved else None

    def __add__(self, other: Figures) -> Figures:
        return Figures(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dc_fields(self)})

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in dc_fields(self))

    def as_dict(self) -> dict:
        """Counts plus the derived figures; the on-time rate as a fraction rounded to 4 places."""
        out = asdict(self)
        rate = self.on_time_rate
        out.update(received=self.received, total=self.total, resolved=self.resolved, pending=self.pending,
                   handled=self.handled, on_time=self.on_time,
                   on_time_rate=None if rate is None else round(rate, 4), average_days=self.average_days)
        return out


_EPOCH = datetime(1970, 1, 1)


def _seconds(text: str) -> int:
    """Whole seconds since 1970 of a naive ISO time, as SQLite's unixepoch(text)."""
    return int((datetime.fromisoformat(text) - _EPOCH).total_seconds())


def _paused_since(row: Mapping, end: str) -> str | None:
    starts = [req for req, ret in row["supplements"] if req < end and (ret is None or ret >= end)]
    return max(starts) if starts else None


def _row_figures(row: Mapping, start: str, end: str, as_of: str) -> Figures | None:
    """This row's contribution to the period's figures, or None if it contributes nothing."""
    received = row["received_at"]
    if received is None or received >= end:
        return None
    finished = row["resolved_at"] if row["resolved_at"] is not None else row["withdrawn_at"]
    if finished is not None and finished < start:
        return None
    counts: dict[str, int] = {}
    if received < start:
        counts["carried_over"] = 1
    else:
        channel = row["channel"]
        counts["received_online" if channel == "online" else "received_post" if channel == "post"
               else "received_in_person"] = 1
    resolved = row["resolved_at"]
    handled = False
    if resolved is not None and start <= resolved < end:
        result = row["result_class"]
        counts["resolved_early" if result == "early" else "resolved_late" if result == "late"
               else "resolved_on_time"] = 1
        counts["processing_seconds"] = _seconds(resolved) - _seconds(received)
        handled = True
    withdrawn = row["withdrawn_at"]
    if withdrawn is not None and start <= withdrawn < end:
        counts["withdrawn"] = 1
    if finished is None or finished >= end:
        handled = True
        paused_since = _paused_since(row, end) if row["supplement_count"] > 0 else None
        due = row["due_at"]
        if paused_since is not None:
            counts["paused"] = 1
            if due is not None and due < paused_since:
                counts["paused_late"] = 1
        elif due is not None and due < as_of:
            counts["pending_overdue"] = 1
        else:
            counts["pending_within"] = 1
    if handled and row["supplement_count"] > 1 and sum(1 for req, _ in row["supplements"] if req < end) > 1:
        counts["repeat_supplements"] = 1
    return Figures(**counts)


def figures(rows: Iterable[Mapping], period_start: date, period_end: date, now: datetime) -> Figures:
    """The period's figures over report rows (see the module docstring for each definition)."""
    return grouped(rows, period_start, period_end, now, key=()).total


@dataclass(frozen=True)
class Table:
    """Figures per group (e.g. commune x field, the II.06a table) and their total."""
    period: Period
    as_of: str
    key: tuple[str, ...]
    groups: dict  # tuple of key values -> Figures, in display order
    total: Figures

    def subtotals(self, depth: int = 1) -> dict:
        """Totals over the first ``depth`` key columns (e.g. per commune), in display order."""
        out: dict[tuple, Figures] = {}
        for key, figs in self.groups.items():
            out[key[:depth]] = out.get(key[:depth], Figures()) + figs
        return out

    def to_dict(self, names: Mapping[str, Mapping] | None = None) -> dict:
        """JSON-able; ``names`` maps a key column to {value: display name} (e.g. agency names)."""
        names = names or {}
        rows = []
        for key, figs in self.groups.items():
            row = {}
            for column, value in zip(self.key, key, strict=True):
                row[column] = value
                if column in names:
                    row[f"{column}_name"] = names[column].get(value, value)
            row.update(figs.as_dict())
            rows.append(row)
        return {"period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat(),
                           "as_of": self.as_of},
                "key": list(self.key), "rows": rows, "total": self.total.as_dict()}


def _sort_key(key: tuple) -> tuple:
    return tuple((fold(str(v)) if v is not None else "", str(v)) for v in key)


def _table(period: Period, as_of: str, key: tuple, groups: dict) -> Table:
    ordered = {k: groups[k] for k in sorted(groups, key=_sort_key) if not groups[k].is_empty()}
    total = Figures()
    for figs in ordered.values():
        total = total + figs
    return Table(period, as_of, tuple(key), ordered, total)


def grouped(rows: Iterable[Mapping], period_start: date, period_end: date, now: datetime,
            key: Sequence[str] = DEFAULT_KEY) -> Table:
    """Figures per group of ``key`` columns plus the total (the II.06a table when key is agency x field)."""
    period = Period(period_start, period_end)
    start, end, as_of = period.start_iso, period.end_iso, period.as_of(now)
    groups: dict[tuple, Figures] = {}
    for row in rows:
        figs = _row_figures(row, start, end, as_of)
        if figs is not None:
            group = tuple(row[k] for k in key)
            groups[group] = groups.get(group, Figures()) + figs
    return _table(period, as_of, tuple(key), groups)


# --- ratings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ratings:
    counts: dict  # level 1..5 -> dossiers
    unrated: int = 0

    @property
    def rated(self) -> int:
        return sum(self.counts.values())

    @property
    def average(self) -> float | None:
        return round(sum(k * v for k, v in self.counts.items()) / self.rated, 2) if self.rated else None

    @property
    def satisfied_rate(self) -> float | None:
        """Share rated 4 (satisfied) or 5 (very satisfied) among rated dossiers."""
        return round((self.counts[4] + self.counts[5]) / self.rated, 4) if self.rated else None

    def as_dict(self) -> dict:
        return {"counts": {str(k): self.counts[k] for k in RATING_LEVELS}, "unrated": self.unrated,
                "rated": self.rated, "average": self.average, "satisfied_rate": self.satisfied_rate}


def _empty_counts() -> dict:
    return {level: 0 for level in RATING_LEVELS}


def ratings(rows: Iterable[Mapping], period_start: date, period_end: date) -> Ratings:
    """Counter satisfaction of the dossiers whose result was returned in the period."""
    period = Period(period_start, period_end)
    start, end = period.start_iso, period.end_iso
    counts, unrated = _empty_counts(), 0
    for row in rows:
        returned = row["returned_at"]
        if returned is None or not start <= returned < end:
            continue
        if row["rating"] in counts:
            counts[row["rating"]] += 1
        else:
            unrated += 1
    return Ratings(counts, unrated)


# --- the same in SQL ----------------------------------------------------------------------------
# Mirrors _row_figures line for line; tests/domain/test_reports.py checks they agree on random data.
# Needs SQLite >= 3.38 (the ->> operator and unixepoch()).
#
# Cost: the JSON in ``doc`` is read only for withdrawn rows (status 7/8) and for pending rows with
# supplement requests, each time through a look-up of the row by id: a bare ``doc`` in these
# expressions would be copied, for every row in scope, into the GROUP BY sorter (real dossiers'
# docs are 1-2 kB: hundreds of megabytes for a year's report of a million dossiers).
# A row resolved before the period starts can contribute nothing, so
# ``resolved_at IS NULL OR resolved_at >= :start`` is a necessary condition checked first. How
# SQLite reaches the rows is chosen here (the answer is the same either way):
# - a period that started recently (the overview's month): through the index on resolved_at,
#   rows resolved since the start plus the unresolved ones, a small share of a big table;
# - a longer or older period (a year's report): the covering index ``dossiers_report`` below when
#   the schema has it, else one sequential scan of the table (``NOT INDEXED``), cheaper than looking
#   up most rows one by one through an index.
# ``+received_at`` keeps SQLite from walking an index on received_at, which would look up nearly
# every row of the table in index order. The GROUP BY sorts the rows in scope: about 0.7 s of the
# ~2 s a year's report takes over a million dossiers on a 2-core PC (bench/central_dashboard.py).
INDEX_PATH_DAYS = 92
# When the schema has this covering index, a long period reads it instead of the table (whose rows
# carry the doc JSON) and, grouped by (agency[, field]), walks it in group order with no sorting:
#     CREATE INDEX dossiers_report ON dossiers(agency, field, received_at, resolved_at, channel,
#                                              status, due_at, result_class, supplement_count)
# and an index on (returned_at, rating) lets ratings_sql read only the returned dossiers.
REPORT_INDEX = "dossiers_report"
REPORT_INDEX_COLUMNS = ("agency", "field", "received_at", "resolved_at", "channel", "status", "due_at",
                        "result_class", "supplement_count")

_FIGURES_SQL = """
WITH raw AS (
    SELECT {keys_select}id, channel, received_at AS rec, due_at AS due, resolved_at AS res, result_class AS rc,
           supplement_count AS sc,
           CASE WHEN status IN (7, 8) THEN (
               SELECT json_extract(x.doc, '$.withdrawal.at') FROM {name} AS x WHERE x.id = {name}.id) END AS wd
    FROM {table}{access}
    WHERE +received_at IS NOT NULL AND +received_at < :end AND (resolved_at IS NULL OR resolved_at >= :start){filters}
), base AS (
    SELECT *, COALESCE(res, wd) AS fin FROM raw
), scoped AS (
    SELECT *,
           (fin IS NULL OR fin >= :end) AS pend,
           CASE WHEN (fin IS NULL OR fin >= :end) AND sc > 0 THEN (
               SELECT MAX(s.value ->> 'requested_at') FROM {name} AS x, json_each(x.doc, '$.supplements') AS s
               WHERE x.id = base.id AND s.value ->> 'requested_at' < :end
                 AND (s.value ->> 'returned_at' IS NULL OR s.value ->> 'returned_at' >= :end)) END AS ps,
           (res IS NOT NULL AND res >= :start AND res < :end) AS rin
    FROM base
    WHERE fin IS NULL OR fin >= :start
)
SELECT {keys_group}
    SUM(CASE WHEN rec < :start THEN 1 ELSE 0 END) AS carried_over,
    SUM(CASE WHEN rec >= :start AND COALESCE(channel, '') NOT IN ('online', 'post') THEN 1 ELSE 0 END)
        AS received_in_person,
    SUM(CASE WHEN rec >= :start AND channel = 'online' THEN 1 ELSE 0 END) AS received_online,
    SUM(CASE WHEN rec >= :start AND channel = 'post' THEN 1 ELSE 0 END) AS received_post,
    SUM(CASE WHEN rin AND rc = 'early' THEN 1 ELSE 0 END) AS resolved_early,
    SUM(CASE WHEN rin AND (rc IS NULL OR rc NOT IN ('early', 'late')) THEN 1 ELSE 0 END) AS resolved_on_time,
    SUM(CASE WHEN rin AND rc = 'late' THEN 1 ELSE 0 END) AS resolved_late,
    SUM(CASE WHEN pend AND ps IS NULL AND NOT (due IS NOT NULL AND due < :as_of) THEN 1 ELSE 0 END)
        AS pending_within,
    SUM(CASE WHEN pend AND ps IS NULL AND due IS NOT NULL AND due < :as_of THEN 1 ELSE 0 END) AS pending_overdue,
    SUM(CASE WHEN ps IS NOT NULL THEN 1 ELSE 0 END) AS paused,
    SUM(CASE WHEN ps IS NOT NULL AND due IS NOT NULL AND due < ps THEN 1 ELSE 0 END) AS paused_late,
    SUM(CASE WHEN wd IS NOT NULL AND wd >= :start AND wd < :end THEN 1 ELSE 0 END) AS withdrawn,
    SUM(CASE WHEN rin THEN unixepoch(res) - unixepoch(rec) ELSE 0 END) AS processing_seconds,
    SUM(CASE WHEN sc > 1 AND (rin OR pend) AND (
             SELECT COUNT(*) FROM {name} AS x, json_each(x.doc, '$.supplements') AS s
             WHERE x.id = scoped.id AND s.value ->> 'requested_at' < :end) > 1 THEN 1 ELSE 0 END)
        AS repeat_supplements
FROM scoped
{group_by}
"""

_FIGURE_NAMES = tuple(f.name for f in dc_fields(Figures))


def _check_columns(columns: Iterable[str]) -> None:
    bad = [c for c in columns if c not in GROUP_COLUMNS]
    if bad:
        raise ValueError(f"cannot group or filter a report by {bad}; allowed: {GROUP_COLUMNS}")


def _check_table(table: str) -> None:
    if not table.isidentifier():
        raise ValueError(f"bad table name {table!r}")


def _filters_sql(filters: Mapping | None) -> tuple[str, dict]:
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    _check_columns(filters)
    return "".join(f" AND {k} = :f_{k}" for k in filters), {f"f_{k}": v for k, v in filters.items()}


def _access_path(conn, table: str, period: Period, now: datetime, key: tuple,
                 filters: Mapping | None) -> tuple[str, list[str]]:
    """(FROM-clause hint, GROUP BY terms): how SQLite should reach the rows; never changes the answer."""
    # "+column": group with the sorter, never by walking an index on the key column (e.g. central's
    # dossiers_node_received), which would look up every row of the table one by one
    sorted_terms = ["+" + k for k in key]
    if (now.date() - period.start).days <= INDEX_PATH_DAYS:
        return "", sorted_terms
    used = set(key) | {k for k, v in (filters or {}).items() if v not in (None, "")}
    if used <= set(REPORT_INDEX_COLUMNS) and conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = ?",
            (REPORT_INDEX, table)).fetchone():
        in_order = key == REPORT_INDEX_COLUMNS[:len(key)]
        return f" INDEXED BY {REPORT_INDEX}", list(key) if in_order else sorted_terms
    return " NOT INDEXED", sorted_terms


def figures_sql(conn, period_start: date, period_end: date, now: datetime, *,
                key: Sequence[str] = DEFAULT_KEY, filters: Mapping | None = None,
                table: str = "dossiers") -> Table:
    """``grouped`` computed by SQLite over ``table`` (node's or central's ``dossiers``).

    ``key`` and ``filters`` (column -> value, equality; None or "" ignored) take columns from
    ``GROUP_COLUMNS`` only; ``table`` is a trusted identifier, never user text.
    """
    _check_table(table)
    key = tuple(key)
    _check_columns(key)
    period = Period(period_start, period_end)
    where, params = _filters_sql(filters)
    access, grouping = _access_path(conn, table, period, now, key, filters)
    sql = _FIGURES_SQL.format(
        table=table, name=table, filters=where, access=access,
        keys_select="".join(f"{k}, " for k in key),
        keys_group="".join(f"{k}, " for k in key),
        group_by=f"GROUP BY {', '.join(grouping)}" if key else "")
    params.update(start=period.start_iso, end=period.end_iso, as_of=period.as_of(now))
    groups: dict[tuple, Figures] = {}
    for record in conn.execute(sql, params):
        record = tuple(record)
        values = record[len(key):]
        if values[0] is None:  # no key: an aggregate over no row gives one row of NULLs
            continue
        groups[record[:len(key)]] = Figures(**{n: int(v) for n, v in zip(_FIGURE_NAMES, values, strict=True)})
    return _table(period, period.as_of(now), key, groups)


def ratings_sql(conn, period_start: date, period_end: date, *, filters: Mapping | None = None,
                table: str = "dossiers") -> Ratings:
    """``ratings`` computed by SQLite."""
    _check_table(table)
    period = Period(period_start, period_end)
    where, params = _filters_sql(filters)
    params.update(start=period.start_iso, end=period.end_iso)
    # one aggregate row, no GROUP BY: nothing to sort however many dossiers were returned
    sums = ", ".join(f"SUM(CASE WHEN rating = {level} THEN 1 ELSE 0 END)" for level in RATING_LEVELS)
    row = conn.execute(f"SELECT {sums}, COUNT(*) FROM {table} "
                       f"WHERE returned_at >= :start AND returned_at < :end{where}", params).fetchone()
    counts = {level: int(row[i] or 0) for i, level in enumerate(RATING_LEVELS)}
    return Ratings(counts, int(row[len(RATING_LEVELS)]) - sum(counts.values()))


def report(conn, period: Period, now: datetime, *, key: Sequence[str] = DEFAULT_KEY,
           filters: Mapping | None = None, names: Mapping[str, Mapping] | None = None) -> dict:
    """The JSON document both sides serve: the table, its total and the ratings, for one period.

    A commune's own report and central's report filtered on that commune are equal documents
    for the same dossiers, period and ``now``.
    """
    table = figures_sql(conn, period.start, period.end, now, key=key, filters=filters)
    out = table.to_dict(names)
    out["ratings"] = ratings_sql(conn, period.start, period.end, filters=filters).as_dict()
    return out


# --- digitisation rates (Decision 766; issue 10) -------------------------------------------------
# For a period [S, E):
# - dossier rate = dossiers received in [S, E) whose every listed component is digitised or exempt
#   (domain.digitisation.fully_digitised, as things stand at the time of the report) / dossiers received;
# - result rate = dossiers resolved in [S, E) that carry a scanned result / dossiers resolved.
# The same code reads the node's and central's ``dossiers`` tables (both keep ``agency``, ``field``,
# ``received_at``, ``resolved_at`` and the state in ``doc``).

@dataclass
class DigitisationRates:
    received: int = 0
    received_digitised: int = 0
    resolved: int = 0
    results_digitised: int = 0

    @property
    def dossier_rate(self) -> float | None:
        return self.received_digitised / self.received if self.received else None

    @property
    def result_rate(self) -> float | None:
        return self.results_digitised / self.resolved if self.resolved else None

    def to_dict(self) -> dict:
        return {"received": self.received, "received_digitised": self.received_digitised,
                "dossier_rate": self.dossier_rate, "resolved": self.resolved,
                "results_digitised": self.results_digitised, "result_rate": self.result_rate}


def digitisation_rates(states: Iterable[Mapping], period_start: date, period_end: date) -> dict:
    """{(agency, field): DigitisationRates} plus ("", "") for the total, from dossier states."""
    from . import digitisation
    period = Period(period_start, period_end)
    start, end = period.start_iso, period.end_iso
    out: dict[tuple[str, str], DigitisationRates] = {("", ""): DigitisationRates()}
    for state in states:
        key = (state["agency"], state["field"])
        for k in (key, ("", "")):
            rates = out.setdefault(k, DigitisationRates())
            received = state.get("received_at")
            if received and start <= received < end:
                rates.received += 1
                rates.received_digitised += digitisation.fully_digitised(state)
            resolved = state.get("resolved_at")
            if resolved and start <= resolved < end:
                rates.resolved += 1
                rates.results_digitised += digitisation.result_digitised(state)
    return out


def digitisation_rates_sql(conn, period_start: date, period_end: date, *, filters: Mapping | None = None) -> dict:
    """``digitisation_rates`` over the dossiers table, reading only the rows received or resolved in the period."""
    import json
    period = Period(period_start, period_end)
    where, args = _filters_sql(filters)
    sql = ("SELECT doc FROM dossiers WHERE ((received_at >= :s AND received_at < :e) OR "
           "(resolved_at >= :s AND resolved_at < :e))" + where)
    rows = (json.loads(r[0]) for r in conn.execute(sql, {"s": period.start_iso, "e": period.end_iso, **args}))
    return digitisation_rates(rows, period_start, period_end)


def digitisation_csv(rates: dict, names: Mapping[str, str] | None = None) -> bytes:
    """The digitisation rates as CSV (UTF-8 with BOM so Excel opens Vietnamese text intact)."""
    import csv
    import io
    names = names or {}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Mã đơn vị", "Đơn vị", "Lĩnh vực", "Hồ sơ tiếp nhận", "Hồ sơ số hóa đủ", "Tỷ lệ hồ sơ số hóa (%)",
                     "Kết quả đã giải quyết", "Kết quả đã số hóa", "Tỷ lệ kết quả số hóa (%)"])

    def pct(value):
        return "" if value is None else f"{value * 100:.1f}"
    for (agency, field), r in sorted(rates.items(), key=lambda kv: (kv[0] == ("", ""), kv[0])):
        if agency and not field:
            continue
        label = "Tổng cộng" if not agency else names.get(agency, agency)
        writer.writerow([agency, label, field, r.received, r.received_digitised, pct(r.dossier_rate), r.resolved,
                         r.results_digitised, pct(r.result_rate)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
