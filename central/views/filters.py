"""Jinja filters and globals shared by central's templates.

Central shows what nodes sent, and a node's values are untrusted input: every filter renders a
value it cannot interpret as it is (an unparsable time raw, an unknown status with its number and
"không xác định") instead of failing the page.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app, g

from domain import workflow
from domain.citizen import mask_id_number, mask_name, mask_phone
from domain.statuses import LABELS, Status, is_overdue

from .. import keys, roles

UNKNOWN_STATUS = "Trạng thái không xác định"


def _parsed(value):
    """A datetime/date as it is, an ISO string parsed; None for anything else."""
    if hasattr(value, "strftime"):
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def vn_datetime(value) -> str:
    """'2026-01-05T16:50:00' -> '16:50 05/01/2026' (the order used on Vietnamese forms); a value
    that is not a time is shown as it is."""
    if not value:
        return ""
    dt = _parsed(value)
    return dt.strftime("%H:%M %d/%m/%Y") if dt is not None else str(value)


def vn_date(value) -> str:
    if not value:
        return ""
    dt = _parsed(value)
    return dt.strftime("%d/%m/%Y") if dt is not None else str(value)


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def money(value) -> str:
    if value in (None, ""):
        return ""
    amount = _whole(value)
    return str(value) if amount is None else f"{amount:,}".replace(",", ".") + " đồng"


def age(seconds) -> str:
    """A duration in plain Vietnamese: '3 ngày 4 giờ', '25 phút'."""
    if seconds is None:
        return ""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"
    if hours:
        return f"{hours} giờ {minutes} phút" if minutes else f"{hours} giờ"
    return f"{minutes} phút" if minutes else "dưới 1 phút"


def offset(seconds) -> str:
    """Clock offset of a node: '+3 phút', '-45 giây', '0'."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds == 0:
        return "0"
    sign = "+" if seconds > 0 else "−" if seconds < 0 else ""
    value = abs(seconds)
    if value >= 3600:
        text = f"{value // 3600} giờ {value % 3600 // 60} phút"
    elif value >= 60:
        text = f"{value // 60} phút"
    else:
        text = f"{value} giây"
    return sign + text


def percent(value) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".replace(".", ",") + "%"


def number(value) -> str:
    if value is None or value == "":
        return ""
    whole = _whole(value)
    return str(value) if whole is None else f"{whole:,}".replace(",", ".")


def status_label(code) -> str:
    """The status's Vietnamese name; an unknown or malformed status says so (its value is shown beside)."""
    if code is None or code == "":
        return ""
    number_ = _whole(code)
    try:
        return LABELS[Status(number_)]
    except (ValueError, KeyError):
        return UNKNOWN_STATUS


def label(table: dict, key, default=None) -> str:
    """table[key], or the key itself (as text) when the table does not know it."""
    try:
        found = table.get(key)
    except TypeError:  # a list or dict where a code was expected
        found = None
    if found is not None:
        return found
    if default is not None:
        return default
    return "" if key is None else str(key)


def rating_label(value) -> str:
    if not value:
        return ""
    return label(workflow.RATINGS, _whole(value), str(value))


def overdue(status, due_at, now_iso: str) -> bool:
    """domain.statuses.is_overdue for a row as a node sent it: False when status or time is malformed."""
    whole = _whole(status)
    if whole is None or not isinstance(due_at, str) or _parsed(due_at) is None:
        return False
    try:
        return is_overdue(whole, due_at, now_iso)
    except ValueError:  # not a status
        return False


def register(app) -> None:
    app.jinja_env.filters.update(
        vn_datetime=vn_datetime, vn_date=vn_date, money=money, age=age, offset=offset, percent=percent,
        number=number, mask_id=mask_id_number, mask_phone=mask_phone, mask_name=mask_name,
        status_label=status_label,
        channel_label=lambda c: label(workflow.CHANNELS, c),
        return_label=lambda c: label(workflow.RETURN_METHODS, c),
        result_label=lambda c: label(workflow.RESULT_CLASSES, c, "") if c else "",
        rating_label=rating_label,
        doc_kind=lambda k: label({"either": "Bản chính hoặc bản sao", **workflow.DOCUMENT_KINDS}, k),
        event_label=lambda t: label(workflow.EVENT_LABELS, t, label(FEED_LABELS, t)),
        access_label=lambda a: label(ACCESS_LABELS, a),
    )

    @app.context_processor
    def globals_():
        settings = current_app.config["MOTCUA"]
        now = getattr(g, "now", None)
        return {
            "central_name": settings["name"],
            "central_fingerprint": keys.fingerprint(current_app.extensions["motcua.central_key"]),
            "now_iso": workflow.iso(now) if now else "",
            "overdue": lambda row: overdue(row["status"], row["due_at"], workflow.iso(g.now)),
            "STATUS_LABELS": {int(k): v for k, v in LABELS.items()},
            "ROLE_LABELS": roles.ROLES,
            "has_endpoint": lambda name: name in current_app.view_functions,
        }


ACCESS_LABELS = {
    "web.view": "Xem hồ sơ (trang web)", "web.search": "Thấy trong kết quả tìm kiếm (trang web)",
    "api.view": "Xem hồ sơ (API)", "api.search": "Thấy trong kết quả tìm kiếm (API)",
}

FEED_LABELS = {
    "catalogue.published": "Xuất bản danh mục thủ tục",
    "calendar.published": "Xuất bản lịch ngày nghỉ",
    "dossier.handed_down": "Cấp trên chuyển hồ sơ trực tuyến xuống",
}
