"""Jinja filters and globals shared by every node template."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, g

from domain import workflow
from domain.citizen import mask_id_number, mask_name, mask_phone
from domain.statuses import LABELS, Status, is_overdue


def vn_datetime(value: str | None) -> str:
    """'2026-01-05T16:50:00' -> '16:50 05/01/2026' (the order used on Vietnamese forms)."""
    if not value:
        return ""
    dt = datetime.fromisoformat(value)
    return dt.strftime("%H:%M %d/%m/%Y")


def vn_date(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%d/%m/%Y")


def form_time(value: str | None) -> str:
    from .forms import form_time as _form_time
    return _form_time(value)


def hours_minutes(seconds) -> str:
    """A duration in hours and minutes: 5400 -> '1 giờ 30 phút', 600 -> '10 phút', 90000 -> '25 giờ 0 phút'."""
    minutes = max(0, int(seconds or 0)) // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours} giờ {minutes} phút" if hours else f"{minutes} phút"


def money(value) -> str:
    if value in (None, ""):
        return ""
    return f"{int(value):,}".replace(",", ".") + " đồng"


def register(app) -> None:
    app.jinja_env.filters.update(
        vn_datetime=vn_datetime, vn_date=vn_date, money=money, form_time=form_time, hours_minutes=hours_minutes,
        vn_datetime_obj=lambda dt: dt.strftime("%H:%M %d/%m/%Y") if dt else "", mask_id=mask_id_number,
        mask_phone=mask_phone, mask_name=mask_name,
        status_label=lambda code: LABELS[Status(int(code))],
        channel_label=lambda c: workflow.CHANNELS.get(c, c),
        return_label=lambda c: workflow.RETURN_METHODS.get(c, c),
        result_label=lambda c: workflow.RESULT_CLASSES.get(c, "") if c else "",
        rating_label=lambda r: workflow.RATINGS.get(int(r), "") if r else "",
        doc_kind=lambda k: workflow.DOCUMENT_KINDS.get(k, k),
        event_label=lambda t: workflow.EVENT_LABELS.get(t, t),
    )

    @app.context_processor
    def globals_():
        settings = current_app.config["MOTCUA"]
        now = getattr(g, "now", None)
        return {
            "agency_name": settings["agency_name"],
            "agency_code": settings["agency_code"],
            "parent_name": settings["parent_name"],
            "now_iso": workflow.iso(now) if now else "",
            "overdue": lambda row: is_overdue(row["status"], row["due_at"], workflow.iso(g.now)),
            "STATUS_LABELS": {int(k): v for k, v in LABELS.items()},
        }
