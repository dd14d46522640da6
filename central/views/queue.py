"""Liên thông: dossiers the communes handed up, waiting for central's decision.

A dossier is in the queue while central holds it (holder "central", an open hand-up row) and no
hand-back is on its way (``central.handback.pending`` for that hand-up). Admins assign it to a
central account, then resolve it, ask for a supplement, or return it; the decision is an entry in
the commune's signed feed, applied on its next sync (central's row follows from the node's event).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from appshell import accounts
from appshell.web_auth import admin_required, login_required, safe_next
from domain import workflow

from .. import handback
from ..clock import iso
from ..db import get_db
from ..store import dossiers, queue
from .dossiers import DECISIONS, open_handoff_no

bp = Blueprint("queue", __name__, url_prefix="/lien-thong")


@bp.get("")
@login_required
def index():
    conn = get_db()
    waiting, sent = queue.queue(conn)
    who = request.args.get("ai") or ""
    if who == "toi":
        waiting = [r for r in waiting if r["assignee"] == g.user.username]
    elif who == "chua":
        waiting = [r for r in waiting if not r["assignee"]]
    return render_template("queue/index.html", waiting=waiting, sent=sent, who=who, now=iso(g.now),
                           outcomes=DECISIONS)


def _held(conn, code: str) -> tuple[dict, int]:
    found = dossiers.get(conn, code)
    if found is None:
        abort(404)
    state = found["state"]
    number = open_handoff_no(state)
    if number is None:
        flash(f"Hồ sơ {code} không do cấp trên giữ.")
    return state, number


@bp.post("/<code>/phan-cong")
@admin_required
def assign(code):
    conn = get_db()
    _state, number = _held(conn, code)
    if number is None:
        return redirect(url_for("dossiers.dossier", code=code), 303)
    username = (request.form.get("username") or "").strip()
    if not username:
        queue.unassign(conn, code, number)
        flash(f"Đã bỏ phân công hồ sơ {code}.")
    else:
        user = accounts.by_name(conn, username)
        if user is None or not user.active or user.role != "admin":
            flash("Chọn một tài khoản quản trị đang hoạt động (chỉ quản trị được gửi quyết định).")
            return redirect(_back(code), 303)
        queue.assign(conn, code, number, user.username, by=g.user.username, now=g.now)
        flash(f"Đã phân công hồ sơ {code} cho {user.full_name or user.username}.")
    return redirect(_back(code), 303)


def _back(code: str) -> str:
    return safe_next(request.form.get("back"), url_for("dossiers.dossier", code=code))


def decision_params(form) -> tuple[dict, dict]:
    """The hand-back parameters for the admin's decision, and Vietnamese field errors."""
    decision = form.get("decision") or ""
    note = (form.get("note") or "").strip()
    params = {"result_note": (form.get("result_note") or "").strip(), "receiver": (form.get("receiver") or "").strip()}
    errors = {}
    if decision == "resolve":
        params.update(outcome="resolve", note=note)
    elif decision == "supplement":
        items = (form.get("items") or "").strip()
        if not items:
            errors["items"] = "Ghi rõ giấy tờ cần bổ sung và lý do."
        params.update(outcome="return", note=f"Yêu cầu bổ sung: {items}" + (f". {note}" if note else ""))
    elif decision == "return":
        if not note:
            errors["note"] = "Ghi rõ lý do trả lại để xã tiếp tục xử lý."
        params.update(outcome="return", note=note)
    else:
        errors["decision"] = "Chọn quyết định: giải quyết xong, yêu cầu bổ sung hoặc trả lại."
    return params, errors


@bp.post("/<code>/tra-ve")
@admin_required
def decide(code):
    conn = get_db()
    params, errors = decision_params(request.form)
    if errors:
        for message in errors.values():
            flash(message)
        return redirect(_back(code), 303)
    try:
        entry = handback.hand_back(conn, code, params, g.user.username, g.now)
    except handback.NotFound:
        abort(404)
    except handback.NotHeld:
        flash(f"Hồ sơ {code} không còn chờ cấp trên quyết định (đã trả về hoặc xã đang giữ).")
        return redirect(_back(code), 303)
    except workflow.WorkflowError as exc:
        flash(exc.message)
        return redirect(_back(code), 303)
    label = DECISIONS[request.form["decision"]].split(" (")[0]
    flash(f"Đã gửi quyết định “{label}” cho hồ sơ {code}; xã nhận được ở lần đồng bộ tới "
          f"(mục {entry['seq']} trong luồng gửi xã).")
    return redirect(_back(code), 303)
