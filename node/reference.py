"""Reference data held by the node: the procedure catalogue and the holiday calendar.

Central publishes newer versions later; a version never goes backwards.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import date

from domain.calendar import CalendarEntry, WorkCalendar
from domain.catalogue import Procedure, parse_procedure
from domain.text import fold


class VersionRollback(ValueError):
    pass


def version(conn: sqlite3.Connection, kind: str) -> int:
    row = conn.execute("SELECT version FROM reference_versions WHERE kind = ?", (kind,)).fetchone()
    return row["version"] if row else 0


def _check_newer(conn, kind: str, new_version: int) -> None:
    current = version(conn, kind)
    if new_version <= current:
        raise VersionRollback(f"{kind} version {new_version} is not newer than installed version {current}")


def _record(conn, kind: str, new_version: int, now_iso: str) -> None:
    conn.execute(
        "INSERT INTO reference_versions(kind, version, applied_at) VALUES (?, ?, ?) "
        "ON CONFLICT(kind) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
        (kind, new_version, now_iso))


def install_catalogue(conn, new_version: int, procedures: list[Procedure], now_iso: str) -> None:
    """Replace the catalogue (caller holds a write transaction)."""
    _check_newer(conn, "catalogue", new_version)
    conn.execute("DELETE FROM procedures")
    conn.executemany(
        "INSERT INTO procedures(code, name, field, name_folded, doc) VALUES (?, ?, ?, ?, ?)",
        [(p.code, p.name, p.field, fold(p.code + " " + p.name), json.dumps(p.to_dict(), ensure_ascii=False))
         for p in procedures])
    _record(conn, "catalogue", new_version, now_iso)


def install_calendar(conn, new_version: int, entries: list[CalendarEntry], now_iso: str) -> None:
    _check_newer(conn, "calendar", new_version)
    conn.execute("DELETE FROM calendar_entries")
    conn.executemany("INSERT INTO calendar_entries(day, kind, name) VALUES (?, ?, ?)",
                     [(e.day.isoformat(), e.kind, e.name) for e in entries])
    _record(conn, "calendar", new_version, now_iso)


def procedures(conn) -> list[Procedure]:
    rows = conn.execute("SELECT doc FROM procedures ORDER BY field, name").fetchall()
    return [parse_procedure(json.loads(r["doc"])) for r in rows]


def procedure(conn, code: str) -> Procedure | None:
    row = conn.execute("SELECT doc FROM procedures WHERE code = ?", (code,)).fetchone()
    return parse_procedure(json.loads(row["doc"])) if row else None


def load_calendar(conn, hours: str) -> WorkCalendar:
    entries = [CalendarEntry(date.fromisoformat(r["day"]), r["kind"], r["name"])
               for r in conn.execute("SELECT day, kind, name FROM calendar_entries")]
    return WorkCalendar(entries, hours=hours, version=version(conn, "calendar"))


class CalendarCache:
    """One per app (one database): rebuilds the calendar only when its version changes."""

    def __init__(self, hours: str):
        self.hours = hours
        self._lock = threading.Lock()
        self._calendar: WorkCalendar | None = None

    def get(self, conn) -> WorkCalendar:
        current = version(conn, "calendar")
        with self._lock:
            if self._calendar is None or self._calendar.version != current:
                self._calendar = load_calendar(conn, self.hours)
            return self._calendar
