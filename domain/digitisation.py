"""Digitisation rules (Circular 03/2025/TT-VPCP art. 5, Circular 01/2023, Decision 766): pure functions.

A dossier's listed document components (``state["documents"]``, by index) are each, at any time:
- ``digitised``: at least one attachment (scanned here or reused from an earlier dossier) is present;
- ``exempt``: the clerk marked one of the four exemptions of Circular 03/2025 art. 5;
- ``not_digitised``: neither.
A dossier submitted online is already electronic: every component counts as exempt ("online").

The result (component ``RESULT``) is digitised when a result file is attached.

Events (metadata only, never bytes; the bytes are blobs beside the log, named by ``hash``):
- ``attachment.added``   ``{"attachment": {id, component, hash, size, mime, pages, original_size,
  source, reused_from, at, by}}``
- ``attachment.removed`` ``{"id": str, "reason": str, "at": str}``
- ``digitisation.marked`` ``{"component": int, "exemption": str|None}`` (``None`` clears an exemption)
- ``result.registered``  ``{"result": {number, symbol, date, signer, valid_until, scope, at, by}}``
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from .citizen import Invalid
from .text import normalize_spaces

RESULT = "result"
EXEMPTIONS = {
    "online": "Hồ sơ nộp trực tuyến (đã là bản điện tử)",
    "comparison": "Giấy tờ chỉ xuất trình để đối chiếu",
    "verification": "Kết quả xác minh, liên thông giữa các cơ quan",
    "confidential": "Tài liệu mật",
}
STATES = {"digitised": "Đã số hóa", "exempt": "Miễn số hóa", "not_digitised": "Chưa số hóa"}
SOURCES = {"file": "Tệp quét", "phone": "Chụp bằng điện thoại", "reuse": "Dùng lại", "api": "Qua API"}
MIMES = ("image/jpeg", "application/pdf")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
ATTACHMENT_TYPES = ("attachment.added", "attachment.removed", "digitisation.marked", "result.registered")


class DigitisationError(ValueError):
    def __init__(self, field: str, message: str):
        self.errors = [Invalid(field, message)]
        super().__init__(f"{field}: {message}")

    @property
    def message(self) -> str:
        return self.errors[0].message


def component_index(state: dict, component) -> int | str:
    """The component an upload names: its index, its exact name, or ``result``. Raises DigitisationError."""
    text = normalize_spaces(str(component if component is not None else ""))
    if text == RESULT:
        return RESULT
    docs = state["documents"]
    if text.isdigit() and int(text) < len(docs):
        return int(text)
    for i, doc in enumerate(docs):
        if doc["name"].casefold() == text.casefold():
            return i
    raise DigitisationError("component", "Chọn thành phần hồ sơ để đính kèm tệp.")


def active(state: Mapping) -> list[dict]:
    """Attachments not removed, in the order they were added."""
    attachments = state.get("attachments")
    if not isinstance(attachments, list):  # a row of another shape (central reads what nodes sent)
        return []
    return [a for a in attachments if isinstance(a, dict) and not a.get("removed_at")]


def stored_bytes(state: dict) -> int:
    return sum(a["size"] for a in active(state) if a.get("source") != "reuse")


def add(state: dict, meta: dict, *, component, source: str, at: str, by: str, attachment_id: str,
        dossier_cap_bytes: int | None = None, reused_from: str | None = None) -> dict:
    """Event data for ``attachment.added``; checks the component, the metadata and the dossier cap."""
    index = component_index(state, component)
    if source not in SOURCES:
        raise DigitisationError("source", "Nguồn tệp không hợp lệ.")
    if not HASH_RE.match(str(meta.get("hash", ""))) or meta.get("mime") not in MIMES:
        raise DigitisationError("file", "Tệp không hợp lệ.")
    if dossier_cap_bytes is not None and source != "reuse" and stored_bytes(state) + meta["size"] > dossier_cap_bytes:
        raise DigitisationError("file", f"Hồ sơ đã dùng hết dung lượng tài liệu cho phép "
                                        f"({dossier_cap_bytes // 2**20} MB).")
    return {"attachment": {
        "id": attachment_id, "component": index, "hash": meta["hash"], "size": int(meta["size"]),
        "mime": meta["mime"], "pages": int(meta["pages"]), "original_size": int(meta.get("original_size") or 0),
        "source": source, "reused_from": reused_from, "at": at, "by": by,
    }}


def remove(state: dict, attachment_id: str, reason: str, at: str) -> dict:
    reason = normalize_spaces(reason)
    if not reason:
        raise DigitisationError("reason", "Vui lòng nhập lý do gỡ tệp.")
    if len(reason) > 500:
        raise DigitisationError("reason", "Lý do không quá 500 ký tự.")
    if not any(a["id"] == attachment_id for a in active(state)):
        raise DigitisationError("id", "Không có tệp này trong hồ sơ.")
    return {"id": attachment_id, "reason": reason, "at": at}


def mark(state: dict, component, exemption: str | None) -> dict:
    index = component_index(state, component)
    if index == RESULT:
        raise DigitisationError("component", "Kết quả không thuộc diện miễn số hóa.")
    if exemption is not None and exemption not in EXEMPTIONS:
        raise DigitisationError("exemption", "Chọn một trong bốn trường hợp miễn số hóa (Thông tư 03/2025, điều 5).")
    return {"component": index, "exemption": exemption}


def _date(text: str, field: str, label: str, required: bool) -> str | None:
    text = normalize_spaces(text)
    if not text:
        if required:
            raise DigitisationError(field, f"Vui lòng nhập {label}.")
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            from datetime import datetime
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise DigitisationError(field, f"{label[0].upper() + label[1:]} phải có dạng ngày/tháng/năm.")


def register_result(params: dict, at: str, by: str) -> dict:
    """Event data for ``result.registered`` (the results register: số, ký hiệu, date, signer, validity, scope)."""
    def text(key, label, required=True, limit=200):
        value = normalize_spaces(params.get(key))
        if required and not value:
            raise DigitisationError(key, f"Vui lòng nhập {label}.")
        if len(value) > limit:
            raise DigitisationError(key, f"{label[0].upper() + label[1:]} không quá {limit} ký tự.")
        return value
    record = {
        "number": text("number", "số văn bản kết quả", limit=40),
        "symbol": text("symbol", "ký hiệu", required=False, limit=60),
        "date": _date(params.get("date") or "", "date", "ngày ký", True),
        "signer": text("signer", "người ký"),
        "valid_until": _date(params.get("valid_until") or "", "valid_until", "thời hạn hiệu lực", False),
        "scope": text("scope", "phạm vi hiệu lực", required=False, limit=300),
        "at": at, "by": by,
    }
    if record["valid_until"] and record["valid_until"] < record["date"]:
        raise DigitisationError("valid_until", "Thời hạn hiệu lực phải sau ngày ký.")
    return {"result": record}


def _check_attachment(state: dict, a: dict) -> None:
    """What a replica accepts from any node's event (central treats it as untrusted input)."""
    if not isinstance(a, dict) or not HASH_RE.match(str(a.get("hash", ""))) or a.get("mime") not in MIMES:
        raise ValueError("attachment without a valid hash and type")
    for key in ("size", "pages", "original_size"):
        if not isinstance(a.get(key), int) or isinstance(a.get(key), bool) or a[key] < 0:
            raise ValueError(f"attachment {key} must be a whole number")
    component = a.get("component")
    if component != RESULT and not (isinstance(component, int) and 0 <= component < len(state["documents"])):
        raise ValueError(f"attachment names no component of the dossier ({component!r})")
    if a.get("source") not in SOURCES or not isinstance(a.get("id"), str) or not a["id"]:
        raise ValueError("attachment without an id or a known source")
    if any(x["id"] == a["id"] for x in state.get("attachments") or []):
        raise ValueError(f"attachment {a['id']} added twice")


# --- the reducer's part (called from domain.dossier.apply_event) -------------------------------

def apply(state: dict, etype: str, data: dict, at: str) -> dict:
    new = dict(state)
    if etype == "attachment.added":
        _check_attachment(state, data["attachment"])
        new["attachments"] = list(state.get("attachments") or []) + [dict(data["attachment"], removed_at=None,
                                                                            removed_reason=None)]
    elif etype == "attachment.removed":
        found = False
        attachments = []
        for a in state.get("attachments") or []:
            if a["id"] == data["id"] and not a.get("removed_at"):
                a = dict(a, removed_at=data["at"], removed_reason=data["reason"])
                found = True
            attachments.append(a)
        if not found:
            raise ValueError(f"{state['code']}: attachment.removed for unknown attachment {data['id']}")
        new["attachments"] = attachments
    elif etype == "digitisation.marked":
        if not (isinstance(data.get("component"), int) and 0 <= data["component"] < len(state["documents"])) or \
                (data.get("exemption") is not None and data["exemption"] not in EXEMPTIONS):
            raise ValueError("digitisation.marked with an unknown component or exemption")
        exemptions = dict(state.get("exemptions") or {})
        key = str(data["component"])
        if data.get("exemption"):
            exemptions[key] = data["exemption"]
        else:
            exemptions.pop(key, None)
        new["exemptions"] = exemptions
    elif etype == "result.registered":
        new["result_record"] = dict(data["result"])
    new["updated_at"] = at
    return new


# --- status of a dossier ------------------------------------------------------------------------

def components(state: Mapping) -> list[dict]:
    """Each listed component with its digitisation state, exemption and active attachments."""
    attached = active(state)
    exemptions = state.get("exemptions") or {}
    if not isinstance(exemptions, dict):
        exemptions = {}
    online = state.get("channel") == "online"
    documents = state.get("documents")
    out = []
    for i, doc in enumerate(documents if isinstance(documents, list) else []):
        if not isinstance(doc, dict):  # shown as it was sent, never a crash
            doc = {"name": str(doc), "kind": None}
        files = [a for a in attached if a.get("component") == i]
        exemption = "online" if online and not files else exemptions.get(str(i))
        status = "digitised" if files else ("exempt" if exemption else "not_digitised")
        out.append({"index": i, "name": doc.get("name"), "kind": doc.get("kind"), "status": status,
                    "exemption": exemption if status == "exempt" else None, "files": files})
    return out


def fully_digitised(state: Mapping) -> bool:
    """Every listed component is digitised or exempt (the numerator of the dossier digitisation rate)."""
    return all(c["status"] != "not_digitised" for c in components(state))


def result_files(state: Mapping) -> list[dict]:
    return [a for a in active(state) if a.get("component") == RESULT]


def result_digitised(state: Mapping) -> bool:
    return bool(result_files(state))


def result_valid(record: dict | None, today: date) -> bool:
    if not record:
        return False
    return not record.get("valid_until") or record["valid_until"] >= today.isoformat()
