"""What a clerk can do to a dossier, as pure functions from (state, input, now) to an event.

Each action checks its input and the current status, computes new due times with the
working-time calendar, and returns a ``Change`` (event type + data) that
``domain.dossier.apply_event`` turns into the next state. Nothing here touches a
database. Errors carry Vietnamese messages for the clerk.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import calendar as cal
from .citizen import Invalid, validate_applicant, validate_person
from .statuses import Status, TransitionError, check_transition
from .text import normalize_spaces

CHANNELS = {"in_person": "Trực tiếp", "post": "Qua bưu chính", "online": "Trực tuyến"}
RETURN_METHODS = {"desk": "Tại bộ phận một cửa", "post": "Qua bưu chính"}
RATINGS = {5: "Rất hài lòng", 4: "Hài lòng", 3: "Bình thường", 2: "Không hài lòng", 1: "Rất không hài lòng"}
RESULT_CLASSES = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}
DOCUMENT_KINDS = {"original": "Bản chính", "copy": "Bản sao"}
MAX_NOTE = 1000


class WorkflowError(ValueError):
    """Input refused; ``errors`` lists (field, Vietnamese message)."""

    def __init__(self, errors: list[Invalid]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

    @property
    def message(self) -> str:
        return " ".join(e.message for e in self.errors)


@dataclass(frozen=True)
class Change:
    type: str
    data: dict


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _fail(field: str, message: str):
    raise WorkflowError([Invalid(field, message)])


def _text(params: dict, key: str, label: str, required: bool = True, limit: int = MAX_NOTE) -> str:
    value = normalize_spaces(params.get(key))
    if required and not value:
        _fail(key, f"Vui lòng nhập {label}.")
    if len(value) > limit:
        _fail(key, f"{label[0].upper() + label[1:]} không quá {limit} ký tự.")
    return value


def _transition(state: dict, target: Status) -> dict:
    try:
        check_transition(state["status"], target)
    except TransitionError as exc:
        raise WorkflowError([Invalid("status", exc.message)]) from None
    return {"from": state["status"], "to": int(target)}


def parse_documents(raw: list[dict]) -> list[dict]:
    docs = []
    for i, item in enumerate(raw or []):
        name = normalize_spaces(item.get("name"))
        kind = item.get("kind") or "original"
        try:
            count = int(item.get("count") or 1)
        except (TypeError, ValueError):
            _fail(f"documents.{i}", f"Số lượng của “{name}” phải là số.")
        if not name:
            _fail(f"documents.{i}", "Tên giấy tờ không được để trống.")
        if kind not in DOCUMENT_KINDS:
            _fail(f"documents.{i}", f"“{name}”: chọn bản chính hoặc bản sao.")
        if not 1 <= count <= 99:
            _fail(f"documents.{i}", f"Số lượng của “{name}” phải từ 1 đến 99.")
        docs.append({"name": name, "kind": kind, "count": count})
    if not docs:
        _fail("documents", "Chọn ít nhất một giấy tờ đã nhận.")
    return docs


def check_intake(applicant: dict, documents: list[dict], channel: str, return_method: str):
    """Every problem of an intake's input at once: (applicant, documents, errors)."""
    applicant, errors = validate_applicant(applicant)
    if channel not in CHANNELS:
        errors.append(Invalid("channel", "Chọn hình thức nộp hồ sơ."))
    if return_method not in RETURN_METHODS:
        errors.append(Invalid("return_method", "Chọn hình thức trả kết quả."))
    try:
        documents = parse_documents(documents)
    except WorkflowError as exc:
        errors.extend(exc.errors)
    return applicant, documents, errors


def compute_due(procedure, received: datetime, calendar: cal.WorkCalendar) -> datetime:
    cutoff = datetime.strptime(procedure.same_day_cutoff or "15:00", "%H:%M").time()
    return cal.due_time(received, procedure.limit_value, procedure.limit_unit, calendar, cutoff)


def receive(*, procedure, applicant: dict, documents: list[dict], channel: str, return_method: str,
            code: str, agency: str, now: datetime, calendar: cal.WorkCalendar,
            catalogue_version: int, actor: str, register_no: int, online: bool = False,
            representative: dict | None = None) -> Change:
    """Counter intake (status 2), or an online registration waiting for acceptance (status 1)."""
    applicant, documents, errors = check_intake(applicant, documents, channel, return_method)
    person, problems = validate_person(representative or {})
    errors.extend(Invalid("representative", p) for p in problems)
    if errors:
        raise WorkflowError(errors)
    due = None if online else iso(compute_due(procedure, now, calendar))
    state = {
        "code": code, "agency": agency,
        "procedure_code": procedure.code, "procedure_name": procedure.name, "field": procedure.field,
        "channel": channel, "applicant": applicant, "documents": documents,
        "return_method": return_method,
        "received_at": None if online else iso(now), "due_at": due, "original_due_at": due,
        "limit_value": procedure.limit_value, "limit_unit": procedure.limit_unit,
        "same_day_cutoff": procedure.same_day_cutoff,
        "calendar_version": calendar.version, "catalogue_version": catalogue_version,
        "status": int(Status.REGISTERED_ONLINE if online else Status.RECEIVED),
        "handler": None, "holder": "node", "paused_at": None, "supplement_count": 0,
        "supplements": [], "fee": procedure.fee, "fee_request": None, "extensions": [],
        "handoffs": [], "refusal": None, "withdrawal": None, "stop": None,
        "resolved_at": None, "result_class": None, "result_note": None, "returned_at": None,
        "rating": None, "register_no": register_no, "received_by": actor,
        "created_at": iso(now), "updated_at": iso(now),
    }
    if person:  # optional: only dossiers with a representative carry the key
        state["representative"] = person
    return Change("dossier.registered" if online else "dossier.received", {"dossier": state})


# --- status changes -------------------------------------------------------------------------

def accept_online(state, params, now, calendar, procedure) -> Change:
    data = _transition(state, Status.RECEIVED)
    due = iso(compute_due(procedure, now, calendar))
    data["set"] = {"received_at": iso(now), "due_at": due, "calendar_version": calendar.version}
    if params.get("register_no") is not None:
        data["set"]["register_no"] = int(params["register_no"])
    data["note"] = _text(params, "note", "ghi chú", required=False)
    return Change("dossier.accepted", data)


def refuse(state, params, now, calendar, procedure=None) -> Change:
    data = _transition(state, Status.REFUSED)
    data["set"] = {"refusal": {"at": iso(now), "reasons": _text(params, "reasons", "lý do từ chối"),
                               "signer": _text(params, "signer", "người ký", required=False)}}
    data["note"] = ""
    return Change("dossier.refused", data)


def refuse_in_processing(state, params, now, calendar, procedure=None) -> Change:
    """A counter dossier found ineligible during processing (issue 12.8): refused with form 03.

    The national status codes have no 4 -> 3, so the dossier is resolved (9) with a refusal as its result
    and returned (10) like any result; form 03 prints the reasons and the signer.
    """
    _require_status(state, {Status.PROCESSING}, "từ chối giải quyết")
    if open_handoff(state):
        _fail("status", "Hồ sơ đang chuyển liên thông, chưa nhận lại kết quả từ cơ quan phối hợp.")
    data = _transition(state, Status.RESOLVED)
    reasons = _text(params, "reasons", "lý do từ chối giải quyết")
    data["set"] = {"refusal": {"at": iso(now), "reasons": reasons, "stage": "processing",
                               "signer": _text(params, "signer", "người ký", required=False, limit=100)},
                   "resolved_at": iso(now), "result_class": cal.classify_resolution(now, parse_iso(state["due_at"])),
                   "result_note": "Từ chối giải quyết (Mẫu 03): " + reasons}
    data["note"] = ""
    return Change("dossier.resolved", data)


def start_processing(state, params, now, calendar, procedure=None) -> Change:
    _require_status(state, {Status.RECEIVED}, "chuyển xử lý")
    data = _transition(state, Status.PROCESSING)
    handler = _text(params, "handler", "người xử lý", required=False, limit=100)
    data["set"] = {"handler": handler or state["handler"]}
    data["note"] = _text(params, "note", "ghi chú", required=False)
    return Change("dossier.processing", data)


def request_supplement(state, params, now, calendar, procedure=None) -> Change:
    data = _transition(state, Status.SUPPLEMENT_REQUESTED)
    request = {
        "requested_at": iso(now),
        "items": _text(params, "items", "giấy tờ cần bổ sung"),
        "reason": _text(params, "reason", "lý do bổ sung"),
        "officer": _text(params, "officer", "cán bộ liên hệ", required=False, limit=100),
        "returned_at": None,
    }
    data["set"] = {"paused_at": iso(now), "supplement_count": state["supplement_count"] + 1,
                   "supplements": state["supplements"] + [request]}
    data["note"] = ""
    return Change("dossier.supplement_requested", data)


def supplement_received(state, params, now, calendar, procedure=None) -> Change:
    _require_status(state, {Status.SUPPLEMENT_REQUESTED}, "ghi nhận bổ sung")
    data = _transition(state, Status.PROCESSING)
    paused = parse_iso(state["paused_at"])
    new_due = cal.extend_for_pause(parse_iso(state["due_at"]), paused, max(now, paused), calendar)
    supplements = [dict(s) for s in state["supplements"]]
    supplements[-1]["returned_at"] = iso(now)
    data["set"] = {"paused_at": None, "due_at": iso(new_due), "supplements": supplements}
    data["note"] = _text(params, "note", "ghi chú", required=False)
    return Change("dossier.supplement_received", data)


def request_fee(state, params, now, calendar, procedure=None) -> Change:
    data = _transition(state, Status.FEE_REQUESTED)
    try:
        amount = int(str(params.get("amount") or "0").replace(".", "").replace(",", ""))
    except ValueError:
        _fail("amount", "Số tiền phải là số nguyên (đồng).")
    if amount < 0:
        _fail("amount", "Số tiền không được âm.")
    data["set"] = {"fee_request": {"at": iso(now), "amount": amount, "paid_at": None,
                                   "note": _text(params, "note", "nội dung", required=False)}}
    data["note"] = ""
    return Change("dossier.fee_requested", data)


def fee_paid(state, params, now, calendar, procedure=None) -> Change:
    _require_status(state, {Status.FEE_REQUESTED}, "ghi nhận hoàn thành nghĩa vụ tài chính")
    data = _transition(state, Status.PROCESSING)
    data["set"] = {"fee_request": dict(state["fee_request"] or {}, paid_at=iso(now))}
    data["note"] = _text(params, "note", "ghi chú", required=False)
    return Change("dossier.fee_paid", data)


def request_withdrawal(state, params, now, calendar, procedure=None) -> Change:
    data = _transition(state, Status.WITHDRAWAL_REQUESTED)
    data["set"] = {"withdrawal": {"at": iso(now), "reason": _text(params, "reason", "lý do rút hồ sơ")}}
    data["note"] = ""
    return Change("dossier.withdrawal_requested", data)


def stop(state, params, now, calendar, procedure=None) -> Change:
    data = _transition(state, Status.STOPPED)
    reason = _text(params, "reason", "lý do dừng", required=False) or "Công dân yêu cầu rút hồ sơ"
    data["set"] = {"stop": {"at": iso(now), "reason": reason,
                            "signer": _text(params, "signer", "người ký", required=False, limit=100)}}
    data["note"] = ""
    return Change("dossier.stopped", data)


def resolve(state, params, now, calendar, procedure=None) -> Change:
    if open_handoff(state):
        _fail("status", "Hồ sơ đang chuyển liên thông, chưa nhận lại kết quả từ cơ quan phối hợp.")
    data = _transition(state, Status.RESOLVED)
    data["set"] = {"resolved_at": iso(now),
                   "result_class": cal.classify_resolution(now, parse_iso(state["due_at"])),
                   "result_note": _text(params, "result_note", "kết quả giải quyết", required=False)}
    data["note"] = ""
    return Change("dossier.resolved", data)


def return_result(state, params, now, calendar, procedure=None) -> Change:
    data = _transition(state, Status.RETURNED)
    rating = params.get("rating")
    if rating in (None, ""):
        rating = None
    else:
        try:
            rating = int(rating)
        except (TypeError, ValueError):
            rating = 0
        if rating not in RATINGS:
            _fail("rating", "Mức đánh giá phải từ 1 (rất không hài lòng) đến 5 (rất hài lòng).")
    method = params.get("return_method") or state["return_method"]
    if method not in RETURN_METHODS:
        _fail("return_method", "Chọn hình thức trả kết quả.")
    data["set"] = {"returned_at": iso(now), "rating": rating, "return_method": method}
    # who collected the result (issue 12.7): the applicant unless someone else's name is given
    collector, problems = validate_person({k: params.get(f"collected_{k}") for k in
                                           ("name", "id_number", "phone", "relationship")}, "người nhận kết quả")
    if problems:
        raise WorkflowError([Invalid("collected", p) for p in problems])
    if collector:
        data["set"]["collected_by"] = collector
    data["note"] = _text(params, "note", "ghi chú", required=False)
    return Change("dossier.returned", data)


# --- changes that keep the status -----------------------------------------------------------

def _require_status(state, allowed, what):
    if Status(state["status"]) not in allowed:
        _fail("status", f"Không thể {what} khi hồ sơ đang ở trạng thái “{_label(state)}”.")


def _label(state):
    from .statuses import label
    return label(state["status"])


def assign(state, params, now, calendar, procedure=None) -> Change:
    _require_status(state, {Status.RECEIVED, Status.PROCESSING, Status.SUPPLEMENT_REQUESTED,
                            Status.FEE_REQUESTED}, "phân công")
    handler = _text(params, "handler", "người xử lý", limit=100)
    return Change("dossier.assigned", {"set": {"handler": handler}, "note": _text(
        params, "note", "ghi chú", required=False)})


def extend(state, params, now, calendar, procedure=None) -> Change:
    """Apology and extension (form 04): only before the current due time passes."""
    _require_status(state, {Status.RECEIVED, Status.PROCESSING, Status.FEE_REQUESTED}, "gia hạn")
    old_due = parse_iso(state["due_at"])
    if now >= old_due:
        _fail("days", "Chỉ được xin lỗi và gia hạn trước thời hạn trả kết quả; hồ sơ này đã quá hạn.")
    try:
        days = int(params.get("days") or 0)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 60:
        _fail("days", "Số ngày gia hạn phải từ 1 đến 60 ngày làm việc.")
    reason = _text(params, "reason", "lý do chậm trễ")
    new_due = cal.extend_by_working_days(old_due, days, calendar)
    record = {"at": iso(now), "old_due": state["due_at"], "new_due": iso(new_due),
              "days": days, "reason": reason}
    return Change("dossier.extended", {"set": {"due_at": iso(new_due),
                                               "extensions": state["extensions"] + [record]},
                                       "note": ""})


def open_handoff(state) -> dict | None:
    rows = state["handoffs"]
    return rows[-1] if rows and rows[-1]["returned_at"] is None else None


def hand_off(state, params, now, calendar, procedure=None) -> Change:
    """Liên thông: send to another agency; status stays 4, a process-control row is added."""
    _require_status(state, {Status.PROCESSING}, "chuyển liên thông")
    if open_handoff(state):
        _fail("to_unit", "Hồ sơ đang được chuyển liên thông, chưa nhận lại.")
    row = {"sent_at": iso(now), "from_unit": _text(params, "from_unit", "đơn vị chuyển", required=False,
                                                     limit=200) or state["agency"],
           "to_unit": _text(params, "to_unit", "cơ quan nhận", limit=200),
           "giver": _text(params, "giver", "người giao", required=False, limit=100),
           "receiver": _text(params, "receiver", "người nhận", required=False, limit=100),
           "note": _text(params, "note", "ghi chú", required=False),
           "returned_at": None, "result_class": None}
    return Change("dossier.handed_off", {"set": {"handoffs": state["handoffs"] + [row]}, "note": ""})


def hand_back(state, params, now, calendar, procedure=None) -> Change:
    row = open_handoff(state)
    if row is None or row.get("upper"):
        _fail("status", "Hồ sơ không có lượt chuyển liên thông nào đang chờ nhận lại.")
    rows = [dict(r) for r in state["handoffs"]]
    rows[-1]["returned_at"] = iso(now)
    rows[-1]["result_class"] = cal.classify_resolution(now, parse_iso(state["due_at"]))
    rows[-1]["return_note"] = _text(params, "note", "ghi chú", required=False)
    return Change("dossier.handed_back", {"set": {"handoffs": rows}, "note": ""})


def hand_up(state, params, now, calendar, procedure=None) -> Change:
    """Liên thông lên cấp trên: the hold passes to central until it hands the dossier back."""
    _require_status(state, {Status.PROCESSING}, "chuyển lên cấp trên")
    if open_handoff(state):
        _fail("to_unit", "Hồ sơ đang được chuyển liên thông, chưa nhận lại.")
    row = {"sent_at": iso(now), "from_unit": state["agency"],
           "to_unit": _text(params, "to_unit", "cơ quan nhận", required=False, limit=200) or "Cấp trên",
           "giver": _text(params, "giver", "người giao", required=False, limit=100),
           "receiver": "", "note": _text(params, "note", "ghi chú", required=False),
           "returned_at": None, "result_class": None, "upper": True}
    return Change("dossier.handed_up", {"set": {"holder": "central", "handoffs": state["handoffs"] + [row]},
                                        "note": ""})


UPPER_OUTCOMES = {"resolve": "Cấp trên đã giải quyết xong", "return": "Cấp trên trả lại để bộ phận một cửa xử lý tiếp"}


def hand_back_from_upper(state, params, now, calendar=None, procedure=None) -> Change:
    """Central's decision on a handed-up dossier, applied by the node when it syncs.

    outcome "resolve": status 4 -> 9 with the result; "return": stays 4 (e.g. more documents needed).
    """
    if state["holder"] != "central":
        _fail("holder", "Hồ sơ không do cấp trên giữ.")
    outcome = params.get("outcome")
    if outcome not in UPPER_OUTCOMES:
        _fail("outcome", "Chọn kết quả: giải quyết xong hoặc trả lại.")
    rows = [dict(r) for r in state["handoffs"]]
    if not rows or rows[-1]["returned_at"] is not None:
        _fail("holder", "Hồ sơ không có lượt chuyển lên cấp trên đang mở.")
    result_class = cal.classify_resolution(now, parse_iso(state["due_at"]))
    rows[-1].update(returned_at=iso(now), result_class=result_class,
                    receiver=_text(params, "receiver", "người nhận", required=False, limit=100),
                    return_note=_text(params, "note", "ghi chú", required=False))
    changes = {"holder": "node", "handoffs": rows}
    data = {"note": rows[-1]["return_note"]}
    if outcome == "resolve":
        data.update(_transition(state, Status.RESOLVED))
        changes.update(resolved_at=iso(now), result_class=result_class,
                       result_note=_text(params, "result_note", "kết quả giải quyết", required=False))
    data["set"] = changes
    return Change("dossier.handed_back", data)


# --- correcting an intake mistake (issue 12.3) -------------------------------------------------

CORRECTABLE = (Status.REGISTERED_ONLINE, Status.RECEIVED, Status.PROCESSING, Status.SUPPLEMENT_REQUESTED,
               Status.FEE_REQUESTED, Status.RESOLVED)
CLERK_CORRECTABLE = (Status.REGISTERED_ONLINE, Status.RECEIVED)  # later stages: a leader corrects


def correct(state, params, now, calendar, procedure=None, *, role: str = "clerk") -> Change:
    """Correct applicant data, documents received or the procedure; the code never changes.

    ``params``: ``reason`` (required), optionally ``applicant`` (dict), ``documents`` (list),
    ``representative`` (dict) and ``procedure`` (the new catalogue entry, when it changes). A new
    procedure recomputes the due time from the ORIGINAL receipt time. Who may: a clerk while the dossier
    is waiting at the desk (1, 2), a leader up to the result being ready (9).
    """
    status = Status(state["status"])
    if status not in CORRECTABLE:
        _fail("status", f"Không thể đính chính hồ sơ ở trạng thái “{_label(state)}”.")
    if status not in CLERK_CORRECTABLE and role not in ("leader", "admin"):
        _fail("status", "Hồ sơ đã chuyển xử lý: chỉ lãnh đạo được đính chính.")
    reason = _text(params, "reason", "lý do đính chính", limit=500)
    changes: dict = {}
    errors: list[Invalid] = []
    if "applicant" in params:
        applicant, problems = validate_applicant(params["applicant"])
        errors.extend(problems)
        if applicant != state["applicant"]:
            changes["applicant"] = applicant
    if "documents" in params:
        try:
            documents = parse_documents(params["documents"])
        except WorkflowError as exc:
            errors.extend(exc.errors)
        else:
            if documents != state["documents"]:
                changes["documents"] = documents
    if "representative" in params:
        person, person_problems = validate_person(params["representative"] or {})
        errors.extend(Invalid("representative", p) for p in person_problems)
        if person != state.get("representative"):
            changes["representative"] = person
    new_procedure = params.get("procedure")
    if new_procedure is not None and new_procedure.code != state["procedure_code"]:
        if state["extensions"] or state["supplements"]:
            errors.append(Invalid("procedure", "Hồ sơ đã gia hạn hoặc bổ sung: không đổi thủ tục được, "
                                               "hãy từ chối và tiếp nhận lại."))
        else:
            changes.update(procedure_code=new_procedure.code, procedure_name=new_procedure.name,
                           field=new_procedure.field, limit_value=new_procedure.limit_value,
                           limit_unit=new_procedure.limit_unit, same_day_cutoff=new_procedure.same_day_cutoff,
                           fee=new_procedure.fee)
            if state.get("received_at"):
                due = iso(compute_due(new_procedure, parse_iso(state["received_at"]), calendar))
                changes.update(due_at=due, original_due_at=due, calendar_version=calendar.version)
    if errors:
        raise WorkflowError(errors)
    if not changes:
        _fail("reason", "Không có thông tin nào thay đổi so với hồ sơ hiện tại.")
    record = {"at": iso(now), "reason": reason, "fields": sorted(changes)}
    changes["corrections"] = list(state.get("corrections") or []) + [record]
    return Change("dossier.corrected", {"set": changes, "note": reason})


EVENT_LABELS = {
    "dossier.corrected": "Đính chính thông tin hồ sơ",
    "dossier.received": "Tiếp nhận hồ sơ", "dossier.registered": "Đăng ký trực tuyến",
    "dossier.accepted": "Tiếp nhận hồ sơ trực tuyến", "dossier.refused": "Từ chối tiếp nhận",
    "dossier.processing": "Chuyển xử lý", "dossier.assigned": "Phân công người xử lý",
    "dossier.supplement_requested": "Yêu cầu bổ sung", "dossier.supplement_received": "Nhận hồ sơ bổ sung",
    "dossier.fee_requested": "Yêu cầu nghĩa vụ tài chính", "dossier.fee_paid": "Hoàn thành nghĩa vụ tài chính",
    "dossier.extended": "Xin lỗi và gia hạn", "dossier.handed_off": "Chuyển liên thông",
    "dossier.handed_back": "Nhận lại kết quả", "dossier.handed_up": "Chuyển lên cấp trên",
    "dossier.withdrawal_requested": "Công dân xin rút hồ sơ", "dossier.stopped": "Dừng xử lý",
    "dossier.resolved": "Đã xử lý xong", "dossier.returned": "Trả kết quả",
}
EVENT_LABELS.update({  # documents (domain/digitisation.py)
    "attachment.added": "Đính kèm tài liệu số hóa", "attachment.removed": "Gỡ tài liệu số hóa",
    "digitisation.marked": "Ghi nhận miễn số hóa", "result.registered": "Vào sổ kết quả",
})

# name -> (function, Vietnamese button label, target status or None)
ACTIONS = {
    "accept": (accept_online, "Tiếp nhận hồ sơ trực tuyến", Status.RECEIVED),
    "refuse": (refuse, "Từ chối tiếp nhận", Status.REFUSED),
    "start": (start_processing, "Chuyển xử lý", Status.PROCESSING),
    "assign": (assign, "Phân công người xử lý", None),
    "supplement": (request_supplement, "Yêu cầu bổ sung", Status.SUPPLEMENT_REQUESTED),
    "supplement_received": (supplement_received, "Đã nhận bổ sung", Status.PROCESSING),
    "fee": (request_fee, "Yêu cầu nghĩa vụ tài chính", Status.FEE_REQUESTED),
    "fee_paid": (fee_paid, "Đã hoàn thành nghĩa vụ tài chính", Status.PROCESSING),
    "extend": (extend, "Xin lỗi và gia hạn", None),
    "hand_off": (hand_off, "Chuyển liên thông", None),
    "hand_back": (hand_back, "Nhận lại kết quả liên thông", None),
    "hand_up": (hand_up, "Chuyển lên cấp trên giải quyết", None),
    "withdraw": (request_withdrawal, "Công dân xin rút hồ sơ", Status.WITHDRAWAL_REQUESTED),
    "stop": (stop, "Dừng xử lý", Status.STOPPED),
    "resolve": (resolve, "Đã xử lý xong", Status.RESOLVED),
    "refuse_processing": (refuse_in_processing, "Từ chối giải quyết (Mẫu 03)", Status.RESOLVED),
    "return": (return_result, "Trả kết quả", Status.RETURNED),
}


# Actions whose target status is reachable from several statuses, pinned to their one source.
SOURCE_STATUS = {"start": Status.RECEIVED, "supplement_received": Status.SUPPLEMENT_REQUESTED,
                 "fee_paid": Status.FEE_REQUESTED, "refuse_processing": Status.PROCESSING}


def available_actions(state: dict) -> list[str]:
    """Action names that make sense for the dossier now (the server re-checks on submit)."""
    from .statuses import TRANSITIONS
    status = Status(state["status"])
    names = []
    for name, (_fn, _label, target) in ACTIONS.items():
        if target is not None:
            if target not in TRANSITIONS[status]:
                continue
            if name in SOURCE_STATUS and status != SOURCE_STATUS[name]:
                continue
            if name in ("resolve", "refuse_processing") and open_handoff(state):
                continue
            names.append(name)
        elif (name == "assign" and status in (Status.RECEIVED, Status.PROCESSING,
                                              Status.SUPPLEMENT_REQUESTED, Status.FEE_REQUESTED)
              or name == "extend" and status in (Status.RECEIVED, Status.PROCESSING, Status.FEE_REQUESTED)
              or name == "hand_off" and status == Status.PROCESSING and not open_handoff(state)
              or name == "hand_back" and (handoff := open_handoff(state)) and not handoff.get("upper")
              or name == "hand_up" and status == Status.PROCESSING and not open_handoff(state)):
            names.append(name)
    return names
