"""Dossier codes: ``<agency code>-<YYMMDD>-<NNNN>``, the one place the pattern lives."""
from __future__ import annotations

import functools
import re
from datetime import date, datetime

AGENCY_CODE = re.compile(r"^[0-9A-Z]{2,5}(\.[0-9A-Z]{2,5}){1,4}$")
DOSSIER_CODE = re.compile(r"^(?P<agency>[0-9A-Z.]+)-(?P<day>\d{6})-(?P<seq>\d{4})$")
MAX_PER_DAY = 9999
# A commune desk numbers its own intakes 0001-9000; central numbers the online dossiers it hands
# down 9001-9999, so two offline parties never give out the same code.
DESK_MAX_PER_DAY = 9000
ONLINE_FIRST = DESK_MAX_PER_DAY + 1


def agency_code_error(code: str) -> str | None:
    if not AGENCY_CODE.match(code or ""):
        return f"agency code {code!r} is not like 000.00.06.H56 (groups of 2-5 digits/capitals joined by dots)"
    return None


def format_code(agency: str, day: date, seq: int) -> str:
    if not 1 <= seq <= MAX_PER_DAY:
        raise ValueError(f"daily sequence {seq} is outside 1..{MAX_PER_DAY}")
    return f"{agency}-{day:%y%m%d}-{seq:04d}"


def _day(text: str) -> date:
    """``datetime.strptime(text, "%y%m%d").date()`` of six digits, without strptime's cost where the
    digits are ASCII (central parses the code of every dossier a push creates): a two-digit month
    and day read as numbers (strptime's one-digit alternatives always leave a digit over, which it
    refuses; so does date() for a month or day out of range), years 00-68 in 2000-2068 and 69-99 in
    1969-1999 as %y reads them. Raises ValueError for what strptime refuses."""
    if not text.isascii():  # other Unicode digits: strptime's own reading
        return datetime.strptime(text, "%y%m%d").date()
    year = int(text[:2])
    return date(year + (2000 if year <= 68 else 1900), int(text[2:4]), int(text[4:6]))


@functools.lru_cache(maxsize=8192)  # pure; central parses the same codes over and over
def parse_code(code: str) -> tuple[str, date, int] | None:
    m = DOSSIER_CODE.match((code or "").strip().upper())
    if not m:
        return None
    try:
        day = _day(m["day"])
    except ValueError:
        return None
    return m["agency"], day, int(m["seq"])


def looks_like_code(text: str) -> bool:
    return parse_code(text) is not None
