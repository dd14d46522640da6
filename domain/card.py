"""The citizen's card QR as a USB 2D scanner types it: a pure, defensive parser.

Chip CCCD (2021-): ``ID|old 9-digit ID or empty|full name|DDMMYYYY birth|sex|permanent address|DDMMYYYY issue``.
The Căn cước card (from 1 July 2024) carries its QR on the back with a different field set whose exact
layout we could not confirm from an authoritative source, so fields are found by what they look like,
not only by position: the first field is the ID number, the first all-letters field the name, the
first date after it the birth date, a "Nam"/"Nữ" field the sex, the next text field the address;
extra fields are ignored. A scan is never trusted to be complete: ``missing`` lists what was not found.
Nothing here logs: a card read is personal data (the caller writes the access log, never the app log).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from .text import fold, normalize_spaces

ID = re.compile(r"^\d{12}$")
OLD_ID = re.compile(r"^\d{9}$")
DATE = re.compile(r"^(\d{2})/?(\d{2})/?(\d{4})$")
SEXES = {"nam": "Nam", "nu": "Nữ", "male": "Nam", "female": "Nữ"}
MAX_PAYLOAD = 2000
MAX_FIELD = 300


class NotACard(ValueError):
    """The text is not a card payload (message in English; the UI says it in Vietnamese)."""


@dataclass(frozen=True)
class CardRead:
    kind: str  # "cccd" (7 fields) or "can_cuoc" (another field set)
    id_number: str
    old_id_number: str = ""
    name: str = ""
    birth_date: str = ""  # ISO yyyy-mm-dd
    sex: str = ""
    address: str = ""
    issue_date: str = ""
    missing: tuple[str, ...] = field(default_factory=tuple)

    def applicant(self) -> dict:
        """The intake form's fields this read fills (only those it found)."""
        values = {"name": self.name, "id_number": self.id_number, "birth_date": self.birth_date,
                  "sex": self.sex, "address": self.address}
        return {k: v for k, v in values.items() if v}


def looks_like_card(text: str | None) -> bool:
    """Cheap check used before parsing: an ID number, then at least four '|' separators."""
    value = (text or "").strip()
    return bool(re.match(r"^\d{12}\|", value)) and value.count("|") >= 4


def _date(text: str) -> str:
    match = DATE.match(text)
    if not match:
        return ""
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return ""


def _is_text(value: str) -> bool:
    return bool(value) and any(ch.isalpha() for ch in value)


def _is_name(value: str) -> bool:
    return _is_text(value) and not any(ch.isdigit() for ch in value) and fold(value) not in SEXES


def parse_card(text: str | None) -> CardRead:
    """Parse a scanned card payload; raise NotACard when the text is not one."""
    raw = (text or "").strip()
    if len(raw) > MAX_PAYLOAD:
        raise NotACard("payload too long for a card QR")
    if not looks_like_card(raw):
        raise NotACard("not a card payload: expected a 12-digit ID number then '|'-separated fields")
    parts = [normalize_spaces(p)[:MAX_FIELD] for p in raw.split("|")]
    id_number = parts[0]
    if not ID.match(id_number):
        raise NotACard("the first field is not a 12-digit ID number")
    kind = "cccd" if len(parts) == 7 else "can_cuoc"
    rest = parts[1:]
    old_id = rest[0] if rest and OLD_ID.match(rest[0]) else ""

    name_at = next((i for i, p in enumerate(rest) if _is_name(p)), None)
    name = rest[name_at] if name_at is not None else ""
    after = rest[name_at + 1:] if name_at is not None else rest
    birth_at = next((i for i, p in enumerate(after) if _date(p)), None)
    birth = _date(after[birth_at]) if birth_at is not None else ""
    after_birth = after[birth_at + 1:] if birth_at is not None else after
    sex_at = next((i for i, p in enumerate(after_birth) if fold(p) in SEXES), None)
    sex = SEXES[fold(after_birth[sex_at])] if sex_at is not None else ""
    after_sex = after_birth[sex_at + 1:] if sex_at is not None else after_birth
    address_at = next((i for i, p in enumerate(after_sex) if _is_text(p)), None)
    address = after_sex[address_at] if address_at is not None else ""
    after_address = after_sex[address_at + 1:] if address_at is not None else after_sex
    issue = next((_date(p) for p in after_address if _date(p)), "")

    found = {"name": name, "birth_date": birth, "sex": sex, "address": address}
    missing = tuple(k for k, v in found.items() if not v)
    return CardRead(kind=kind, id_number=id_number, old_id_number=old_id, name=name, birth_date=birth,
                    sex=sex, address=address, issue_date=issue, missing=missing)
