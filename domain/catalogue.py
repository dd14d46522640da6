"""The procedure catalogue (danh mục thủ tục hành chính cấp xã) and its strict loader.

A catalogue is published by the upper level and shipped as a sample in
``domain/data/catalogue_sample.json``::

    {"version": 1, "note": "...", "procedures": [ {...}, ... ]}

Each procedure object has exactly these keys::

    {"code": str, "name": str, "field": str,
     "limit": {"value": int, "unit": "working_days"|"working_hours"|"calendar_days"|"same_day"},
     "same_day_cutoff": "HH:MM" | null,
     "fee": int, "fee_note": str,
     "documents": [{"name": str, "kind": "original"|"copy"|"either", "count": int}],
     "handed_up": bool, "result": str}

Rules enforced by :func:`parse_procedure` (anything else raises :class:`CatalogueError`
whose English message names the procedure code and the offending field):

* no missing and no unknown keys, at every level;
* ints are real ints (``true`` and ``1.0`` are refused), never negative;
* a ``same_day`` limit has value 0; every other unit has value >= 1;
* ``same_day_cutoff`` is a 24-hour ``"HH:MM"`` and only allowed with ``same_day``
  (a same-day procedure received after the cutoff is due the next working day);
* code, name, field, result and document names are non-empty and not padded with spaces;
* a document count is >= 1.

Stdlib only: no Flask, no database.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from domain.text import fold

__all__ = [
    "LIMIT_UNITS",
    "DOCUMENT_KINDS",
    "CatalogueError",
    "Document",
    "Procedure",
    "parse_procedure",
    "parse_catalogue",
    "load_sample_catalogue",
    "fields",
    "filter_procedures",
]

LIMIT_UNITS = ("working_days", "working_hours", "calendar_days", "same_day")
DOCUMENT_KINDS = ("original", "copy", "either")

SAMPLE_RESOURCE = "data/catalogue_sample.json"

_PROCEDURE_KEYS = (
    "code", "name", "field", "limit", "same_day_cutoff", "fee", "fee_note",
    "documents", "handed_up", "result",
)
_LIMIT_KEYS = ("value", "unit")
_DOCUMENT_KEYS = ("name", "kind", "count")
_CATALOGUE_REQUIRED = ("version", "procedures")
_CATALOGUE_OPTIONAL = ("note",)
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

_UNIT_LABELS = {
    "working_days": "{n} ngày làm việc",
    "working_hours": "{n} giờ làm việc",
    "calendar_days": "{n} ngày",
}


class CatalogueError(ValueError):
    """A catalogue or procedure that does not follow the format exactly."""


@dataclass(frozen=True)
class Document:
    """One paper of the dossier: its name, original/copy, and how many."""

    name: str
    kind: str
    count: int

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "count": self.count}


@dataclass(frozen=True)
class Procedure:
    """One administrative procedure (thủ tục hành chính) as published in the catalogue."""

    code: str
    name: str
    field: str
    limit_value: int
    limit_unit: str
    same_day_cutoff: str | None
    fee: int
    fee_note: str
    documents: tuple[Document, ...]
    handed_up: bool
    result: str

    def to_dict(self) -> dict:
        """The exact JSON shape of the catalogue; ``parse_procedure(p.to_dict()) == p``."""
        return {
            "code": self.code,
            "name": self.name,
            "field": self.field,
            "limit": {"value": self.limit_value, "unit": self.limit_unit},
            "same_day_cutoff": self.same_day_cutoff,
            "fee": self.fee,
            "fee_note": self.fee_note,
            "documents": [d.to_dict() for d in self.documents],
            "handed_up": self.handed_up,
            "result": self.result,
        }

    def limit_label(self) -> str:
        """The time limit in Vietnamese: "5 ngày làm việc", "Trong ngày", "8 giờ làm việc", "30 ngày"."""
        if self.limit_unit == "same_day":
            return "Trong ngày"
        return _UNIT_LABELS[self.limit_unit].format(n=self.limit_value)


# ---------------------------------------------------------------- parsing --

def _fail(code: str, field: str, problem: str) -> CatalogueError:
    return CatalogueError(f"procedure {code!r}: field {field!r}: {problem}")


def _check_keys(obj: Any, expected: tuple[str, ...], code: str, where: str) -> None:
    if not isinstance(obj, dict):
        raise _fail(code, where, f"must be an object, got {type(obj).__name__}")
    missing = [k for k in expected if k not in obj]
    unknown = sorted(str(k) for k in obj if k not in expected)
    prefix = f"{where}." if where != "(procedure)" else ""
    if missing:
        raise _fail(code, prefix + missing[0], "is missing")
    if unknown:
        raise _fail(code, prefix + unknown[0], "is not a known field")


def _text(value: Any, code: str, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(code, field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise _fail(code, field, "must not be empty")
    if value != value.strip():
        raise _fail(code, field, "must not start or end with whitespace")
    return value


def _int(value: Any, code: str, field: str, *, minimum: int) -> int:
    # bool is a subclass of int: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(code, field, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        if value < 0:
            raise _fail(code, field, f"must not be negative, got {value}")
        raise _fail(code, field, f"must be at least {minimum}, got {value}")
    return value


def _code_of(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("code"), str) and raw["code"].strip():
        return raw["code"]
    return "<no code>"


def parse_procedure(raw: dict) -> Procedure:
    """Build a :class:`Procedure` from its JSON object, refusing anything not exactly right."""
    code = _code_of(raw)
    _check_keys(raw, _PROCEDURE_KEYS, code, "(procedure)")

    code = _text(raw["code"], code, "code")
    name = _text(raw["name"], code, "name")
    field_name = _text(raw["field"], code, "field")
    result = _text(raw["result"], code, "result")
    fee_note = _text(raw["fee_note"], code, "fee_note", allow_empty=True)
    fee = _int(raw["fee"], code, "fee", minimum=0)

    limit = raw["limit"]
    _check_keys(limit, _LIMIT_KEYS, code, "limit")
    unit = limit["unit"]
    if not isinstance(unit, str) or unit not in LIMIT_UNITS:
        raise _fail(code, "limit.unit", f"unknown unit {unit!r}; expected one of {', '.join(LIMIT_UNITS)}")
    if unit == "same_day":
        value = _int(limit["value"], code, "limit.value", minimum=0)
        if value != 0:
            raise _fail(code, "limit.value", f"must be 0 for a same_day limit, got {value}")
    else:
        value = _int(limit["value"], code, "limit.value", minimum=1)

    cutoff = raw["same_day_cutoff"]
    if cutoff is not None:
        if not isinstance(cutoff, str) or not _HHMM.match(cutoff):
            raise _fail(code, "same_day_cutoff", f"must be a 24-hour \"HH:MM\" time or null, got {cutoff!r}")
        if unit != "same_day":
            raise _fail(code, "same_day_cutoff", f"is only allowed with a same_day limit, not {unit}")

    handed_up = raw["handed_up"]
    if not isinstance(handed_up, bool):
        raise _fail(code, "handed_up", f"must be true or false, got {type(handed_up).__name__}")

    docs_raw = raw["documents"]
    if not isinstance(docs_raw, list):
        raise _fail(code, "documents", f"must be a list, got {type(docs_raw).__name__}")
    documents = []
    for i, doc in enumerate(docs_raw):
        where = f"documents[{i}]"
        _check_keys(doc, _DOCUMENT_KEYS, code, where)
        kind = doc["kind"]
        if not isinstance(kind, str) or kind not in DOCUMENT_KINDS:
            raise _fail(code, f"{where}.kind", f"unknown kind {kind!r}; expected one of {', '.join(DOCUMENT_KINDS)}")
        documents.append(Document(
            name=_text(doc["name"], code, f"{where}.name"),
            kind=kind,
            count=_int(doc["count"], code, f"{where}.count", minimum=1),
        ))

    return Procedure(
        code=code, name=name, field=field_name, limit_value=value, limit_unit=unit,
        same_day_cutoff=cutoff, fee=fee, fee_note=fee_note, documents=tuple(documents),
        handed_up=handed_up, result=result,
    )


def parse_catalogue(raw: dict) -> tuple[int, list[Procedure]]:
    """Parse a whole catalogue: ``{"version": int > 0, "note"?: str, "procedures": [...]}``.

    Returns ``(version, procedures)`` in file order; duplicate codes are refused.
    """
    if not isinstance(raw, dict):
        raise CatalogueError(f"catalogue: must be an object, got {type(raw).__name__}")
    for key in _CATALOGUE_REQUIRED:
        if key not in raw:
            raise CatalogueError(f"catalogue: field {key!r}: is missing")
    unknown = sorted(str(k) for k in raw if k not in _CATALOGUE_REQUIRED + _CATALOGUE_OPTIONAL)
    if unknown:
        raise CatalogueError(f"catalogue: field {unknown[0]!r}: is not a known field")
    version = raw["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CatalogueError(f"catalogue: field 'version': must be a positive integer, got {version!r}")
    if "note" in raw and not isinstance(raw["note"], str):
        raise CatalogueError("catalogue: field 'note': must be a string")
    items = raw["procedures"]
    if not isinstance(items, list):
        raise CatalogueError(f"catalogue: field 'procedures': must be a list, got {type(items).__name__}")

    procedures: list[Procedure] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        try:
            proc = parse_procedure(item)
        except CatalogueError as exc:
            raise CatalogueError(f"catalogue: procedures[{i}]: {exc}") from None
        if proc.code in seen:
            raise CatalogueError(
                f"catalogue: procedures[{i}]: procedure {proc.code!r}: field 'code': duplicate code")
        seen.add(proc.code)
        procedures.append(proc)
    return version, procedures


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise CatalogueError(f"catalogue: duplicate JSON key {key!r}")
        out[key] = value
    return out


def load_sample_catalogue() -> tuple[int, list[Procedure]]:
    """Load the catalogue shipped in ``domain/data/catalogue_sample.json``."""
    text = resources.files("domain").joinpath(SAMPLE_RESOURCE).read_text(encoding="utf-8")
    return parse_catalogue(json.loads(text, object_pairs_hook=_refuse_duplicate_keys))


# ------------------------------------------------------------------ lookup --

def fields(procedures: Iterable[Procedure]) -> list[str]:
    """Sorted unique field names (lĩnh vực), ordered as a Vietnamese reader expects."""
    return sorted({p.field for p in procedures}, key=lambda f: (fold(f), f))


def filter_procedures(procedures: Iterable[Procedure], query: str) -> list[Procedure]:
    """Procedures whose code or name matches ``query``, for "type to filter".

    Matching ignores case, diacritics and ``đ``/``d``: every word of the query must occur
    in the folded code-and-name ("dang ky khai sinh", "khai sinh", "1.001193" and
    "001193" all find "Đăng ký khai sinh"). An empty query returns everything.
    Results keep catalogue order, except that an exact code match comes first and
    names starting with the query come before other matches.
    """
    procedures = list(procedures)
    q = fold(query or "")
    if not q:
        return procedures
    words = q.split(" ")
    ranked = []
    for index, proc in enumerate(procedures):
        code, name = fold(proc.code), fold(proc.name)
        haystack = f"{code} {name}"
        if not all(w in haystack for w in words):
            continue
        if code == q:
            rank = 0
        elif name.startswith(q) or code.startswith(q):
            rank = 1
        else:
            rank = 2
        ranked.append((rank, index, proc))
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [proc for _, _, proc in ranked]
