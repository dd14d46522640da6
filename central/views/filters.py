"""Jinja filters and globals shared by central's templates."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, g

from domain import workflow
from domain.citizen import mask_id_number, mask_name, mask_phone
from domain.statuses import LABELS, Status, is_overdue

from .. import keys, users


def vn_datetime(value) -> str:
    """'2026-01-05T16:50:00' -> '16:50 05/01/2026' (the order used on Vietnamese forms)."""
    if not value:
        return ""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return dt.strftime("%H:%M %d/%m/%Y")


def vn_date(value) -> str:
    if not value:
        return ""
    dt = value if hasattr(value, "strftime") else datetime.fromisoformat(value)
    return dt.strftime("%d/%m/%Y")


def money(value) -> str:
    if value in (None, ""):
        return ""
    return f"{int(value):,}".replace(",", ".") + " đồng"


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
    return f"{int(value):,}".replace(",", ".")


def register(app) -> None:
    app.jinja_env.filters.update(
        vn_datetime=vn_datetime, vn_date=vn_date, money=money, age=age, offset=offset, percent=percent,
        number=number, mask_id=mask_id_number, mask_phone=mask_phone, mask_name=mask_name,
        status_label=lambda code: LABELS[Status(int(code))] if code is not None else "",
        channel_label=lambda c: workflow.CHANNELS.get(c, c),
        return_label=lambda c: workflow.RETURN_METHODS.get(c, c),
        result_label=lambda c: workflow.RESULT_CLASSES.get(c, "") if c else "",
        rating_label=lambda r: workflow.RATINGS.get(int(r), "") if r else "",
        doc_kind=lambda k: {"either": "Bản chính hoặc bản sao", **workflow.DOCUMENT_KINDS}.get(k, k),
        event_label=lambda t: workflow.EVENT_LABELS.get(t, FEED_LABELS.get(t, t)),
        access_label=lambda a: ACCESS_LABELS.get(a, a),
    )

    @app.context_processor
    def globals_():
        settings = current_app.config["MOTCUA"]
        now = getattr(g, "now", None)
        return {
            "central_name": settings["name"],
            "central_fingerprint": keys.fingerprint(current_app.extensions["motcua.central_key"]),
            "now_iso": workflow.iso(now) if now else "",
            "overdue": lambda row: is_overdue(row["status"], row["due_at"], workflow.iso(g.now)),
            "STATUS_LABELS": {int(k): v for k, v in LABELS.items()},
            "ROLE_LABELS": users.ROLES,
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
