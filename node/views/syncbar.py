"""The sync status shown on every staff page, and the "sync now" button."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, flash, g, redirect, request, url_for

from appshell.web_auth import login_required

from .. import blob_outbox, sync_state
from ..db import get_db

bp = Blueprint("syncbar", __name__)


def _age(value: str | None, now: datetime) -> str:
    """How long ago, in Vietnamese: "vừa xong", "5 phút trước", "2 giờ 15 phút trước", "3 ngày 4 giờ trước".

    ``now`` is the PC's clock, the clock the sync worker stamps its times with."""
    if not value:
        return "chưa bao giờ"
    seconds = max(0, int((now - datetime.fromisoformat(value)).total_seconds()))
    if seconds < 90:
        return "vừa xong"
    if seconds < 3600:
        return f"{seconds // 60} phút trước"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} giờ {minutes} phút trước" if minutes else f"{hours} giờ trước"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} ngày {hours} giờ trước" if hours else f"{days} ngày trước"


@bp.app_context_processor
def sync_status():
    if getattr(g, "user", None) is None:
        return {}
    st = sync_state.status(get_db())
    settings = current_app.config["MOTCUA"]
    offset = st.clock_offset_seconds
    clock_warning = None
    if offset is not None and abs(offset) > settings["clock_warning_minutes"] * 60:
        minutes = round(abs(offset) / 60)
        direction = "chậm" if offset > 0 else "nhanh"
        clock_warning = (f"Đồng hồ máy tính đang {direction} khoảng {minutes} phút so với máy chủ cấp trên. "
                         "Mã hồ sơ, giờ tiếp nhận, hạn trả kết quả và các danh sách (hôm nay, quá hạn) "
                         "đang được tính theo giờ máy chủ cấp trên "
                         "(giấy tiếp nhận có ghi chú việc này); đề nghị chỉnh lại đồng hồ máy.")
    elif offset is None and st.enrolled:
        clock_warning = ("Máy chưa đồng bộ được với cấp trên lần nào nên chưa đối chiếu được giờ: giờ tiếp nhận "
                         "đang lấy theo đồng hồ máy tính. Hãy kiểm tra đồng hồ máy trước khi in giấy tiếp nhận.")
    backlog = blob_outbox.backlog(get_db())
    return {"sync": st, "sync_last_success_age": _age(st.last_success_at, g.pc_now), "clock_warning": clock_warning,
            "blob_backlog": backlog, "blob_backlog_mb": _mb(backlog.bytes)}


def _mb(size: int) -> str:
    """Megabytes the Vietnamese way: "0", "0,3", "12,5"."""
    if size <= 0:
        return "0"
    return f"{max(size / 1e6, 0.1):.1f}".replace(".", ",")


@bp.route("/dong-bo", methods=("POST",))
@login_required
def sync_now():
    worker = current_app.extensions.get("motcua.sync")
    if worker is None:
        flash("Chức năng đồng bộ chưa chạy trên máy này (máy chưa đăng ký với cấp trên hoặc đang chạy thử).")
    else:
        worker.wake()
        lane = current_app.extensions.get("motcua.blob_lane")
        if lane is not None:
            lane.wake()
        flash("Đã yêu cầu đồng bộ với cấp trên. Trạng thái sẽ cập nhật sau ít giây.")
    target = request.referrer or url_for("desk.home")
    if not target.startswith(request.host_url):
        target = url_for("desk.home")
    return redirect(target, 303)
