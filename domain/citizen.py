"""Validation and masking of citizens' personal data (ID numbers, phones, names, emails).

Messages are Vietnamese: they are shown next to the form field the clerk typed in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .text import normalize_spaces

ID_NUMBER = re.compile(r"^(\d{12}|\d{9})$")
MOBILE = re.compile(r"^0(3|5|7|8|9)\d{8}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 100
MAX_ADDRESS = 300


@dataclass(frozen=True)
class Invalid:
    field: str
    message: str


def normalize_id_number(raw: str | None) -> str:
    return re.sub(r"[\s.\-]", "", raw or "")


def id_number_error(raw: str | None) -> str | None:
    value = normalize_id_number(raw)
    if not value:
        return "Vui lòng nhập số định danh cá nhân / CCCD."
    if not value.isdigit():
        return "Số định danh chỉ gồm chữ số."
    if not ID_NUMBER.match(value):
        return "Số định danh phải có 12 chữ số (hoặc 9 chữ số với CMND cũ)."
    return None


def normalize_phone(raw: str | None) -> str:
    """Return the 10-digit national form: "+84 912 345 678" -> "0912345678"."""
    value = re.sub(r"[\s.\-()]", "", raw or "")
    if value.startswith("+84"):
        value = "0" + value[3:]
    elif value.startswith("84") and len(value) == 11:
        value = "0" + value[2:]
    return value


def phone_error(raw: str | None, required: bool = True) -> str | None:
    value = normalize_phone(raw)
    if not value:
        return "Vui lòng nhập số điện thoại." if required else None
    if not MOBILE.match(value):
        return "Số điện thoại di động gồm 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09 (hoặc +84)."
    return None


def name_error(raw: str | None) -> str | None:
    value = normalize_spaces(raw)
    if not value:
        return "Vui lòng nhập họ và tên người nộp hồ sơ."
    if len(value) > MAX_NAME:
        return f"Họ và tên không quá {MAX_NAME} ký tự."
    if any(ch.isdigit() for ch in value):
        return "Họ và tên không được chứa chữ số."
    return None


def address_error(raw: str | None) -> str | None:
    value = normalize_spaces(raw)
    if not value:
        return "Vui lòng nhập địa chỉ."
    if len(value) > MAX_ADDRESS:
        return f"Địa chỉ không quá {MAX_ADDRESS} ký tự."
    return None


def email_error(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if value and (len(value) > 254 or not EMAIL.match(value)):
        return "Địa chỉ email không hợp lệ."
    return None


SEXES = ("Nam", "Nữ")
_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")


def parse_birth_date(raw: str | None) -> str | None:
    """'15/04/1990' (as typed, dd/mm/yyyy whatever the browser's locale) or '1990-04-15' -> ISO; None if bad."""
    value = re.sub(r"\s", "", raw or "")
    if not value:
        return ""
    match = _DMY.match(value)
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day).isoformat()
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def birth_date_error(raw: str | None, today: date | None = None) -> str | None:
    value = parse_birth_date(raw)
    if value is None:
        return "Ngày sinh không hợp lệ; nhập theo dạng ngày/tháng/năm, ví dụ 15/04/1990."
    if value and (value < "1900-01-01" or (today and value > today.isoformat())):
        return "Ngày sinh không hợp lệ."
    return None


def sex_error(raw: str | None) -> str | None:
    value = normalize_spaces(raw)
    if value and value not in SEXES:
        return "Giới tính là Nam hoặc Nữ."
    return None


def applicant_errors(raw: dict) -> list[Invalid]:
    """Every problem of an applicant dict (none = valid): ``validate_applicant``'s, without normalising
    it (central checks the applicant of every dossier a node creates and keeps what the node sent)."""
    checks = {
        "name": name_error(raw.get("name")),
        "id_number": id_number_error(raw.get("id_number")),
        "phone": phone_error(raw.get("phone")),
        "address": address_error(raw.get("address")),
        "email": email_error(raw.get("email")),
        "birth_date": birth_date_error(raw.get("birth_date")),
        "sex": sex_error(raw.get("sex")),
    }
    return [Invalid(field, message) for field, message in checks.items() if message]


def validate_applicant(raw: dict) -> tuple[dict, list[Invalid]]:
    """Normalise an applicant dict; return it with every problem found (none = valid)."""
    errors = applicant_errors(raw)
    applicant = {
        "name": normalize_spaces(raw.get("name")),
        "id_number": normalize_id_number(raw.get("id_number")),
        "phone": normalize_phone(raw.get("phone")),
        "address": normalize_spaces(raw.get("address")),
        "email": (raw.get("email") or "").strip(),
    }
    # optional, filled by a card scan or typed: kept only when given, so older dossiers keep their shape
    birth = parse_birth_date(raw.get("birth_date"))
    if birth:
        applicant["birth_date"] = birth
    if normalize_spaces(raw.get("sex")) in SEXES:
        applicant["sex"] = normalize_spaces(raw.get("sex"))
    return applicant, errors


def validate_person(raw: dict, who: str = "người được ủy quyền") -> tuple[dict | None, list[str]]:
    """A representative or the person collecting a result: None when nothing was given.

    Name and ID number are required once anything is typed; phone and relationship are optional.
    """
    values = {k: normalize_spaces(raw.get(k)) for k in ("name", "id_number", "phone", "relationship")}
    if not any(values.values()):
        return None, []
    problems = []
    if not values["name"] or len(values["name"]) > MAX_NAME or any(c.isdigit() for c in values["name"]):
        problems.append(f"Nhập họ và tên {who} (không quá {MAX_NAME} ký tự, không chứa chữ số).")
    id_error = id_number_error(values["id_number"])
    if id_error:
        problems.append(f"Số định danh của {who}: " + id_error.lower())
    if values["phone"] and phone_error(values["phone"]):
        problems.append(f"Số điện thoại của {who} không hợp lệ.")
    if len(values["relationship"]) > 200:
        problems.append("Quan hệ / giấy ủy quyền không quá 200 ký tự.")
    person = {"name": values["name"], "id_number": normalize_id_number(values["id_number"]),
              "phone": normalize_phone(values["phone"]), "relationship": values["relationship"]}
    return person, problems


def mask_id_number(value: str | None) -> str:
    """0012******34: keep 4 leading and 2 trailing digits."""
    if not value:
        return ""
    if len(value) <= 6:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 6) + value[-2:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    return value[:3] + "*" * max(len(value) - 6, 0) + value[-3:]


def mask_name(value: str | None) -> str:
    """Nguyễn Văn Dũng -> N. V. Dũng: enough for a citizen to recognise, not to identify."""
    parts = (value or "").split()
    if not parts:
        return ""
    return " ".join([p[0] + "." for p in parts[:-1]] + [parts[-1]])
