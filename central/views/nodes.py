"""Đơn vị: the communes' nodes — enrol, revoke, recovery codes (which also rotate a node's key)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from appshell.web_auth import admin_required, login_required

from .. import keys
from ..db import get_db
from ..store import blobs, nodes

bp = Blueprint("nodes", __name__, url_prefix="/don-vi")

REGISTRY_VI = {
    "is not like": "Mã đơn vị không đúng dạng, ví dụ 000.00.06.H56 (các nhóm chữ in hoa/số cách nhau bởi dấu chấm).",
    "must not be empty": "Vui lòng nhập tên đơn vị.",
    "already exists": "Đơn vị này đã có. Nếu máy của xã bị mất hoặc hỏng, hãy cấp mã khôi phục.",
    "no node": "Không có đơn vị này.",
}


def _vi(exc: Exception) -> str:
    text = str(exc)
    return next((vi for en, vi in REGISTRY_VI.items() if en in text), "Không thực hiện được thao tác.")


def _settings():
    return current_app.config["MOTCUA"]


@bp.get("")
@login_required
def index():
    conn = get_db()
    rows = nodes.listing(conn, g.now, _settings()["silent_after_hours"])
    return render_template("nodes/index.html", rows=rows, error=None, form={}, blob_backlog=blobs.backlog(conn))


@bp.post("")
@admin_required
def add():
    conn = get_db()
    agency = (request.form.get("agency") or "").strip().upper()
    name = request.form.get("name") or ""
    try:
        code, expires = nodes.add_node(conn, agency, name, now=g.now, minutes=_settings()["enrol_code_minutes"])
    except nodes.RegistryError as exc:
        rows = nodes.listing(conn, g.now, _settings()["silent_after_hours"])
        return render_template("nodes/index.html", rows=rows, error=_vi(exc), form=request.form,
                               blob_backlog=blobs.backlog(conn)), 400
    current_app.logger.info("node %s added by %s", agency, g.user.username)
    return _code_page(agency, code, expires, "enrol")


def _code_page(agency, code, expires, purpose):
    node = nodes.get(get_db(), agency)
    return render_template("nodes/code.html", node=node, code=code, expires=expires, purpose=purpose,
                           central_url=request.host_url.rstrip("/"),
                           fingerprint=keys.fingerprint(current_app.extensions["motcua.central_key"]))


@bp.get("/<agency>")
@login_required
def detail(agency):
    conn = get_db()
    row = next((r for r in nodes.listing(conn, g.now, _settings()["silent_after_hours"]) if r["id"] == agency), None)
    if row is None:
        abort(404)
    return render_template("nodes/detail.html", n=row, blob_backlog=blobs.backlog(conn, agency).get(agency),
                           **nodes.detail(conn, agency))


@bp.post("/<agency>/ma-khoi-phuc")
@admin_required
def recovery(agency):
    conn = get_db()
    try:
        code, expires = nodes.recovery_code(conn, agency, now=g.now, minutes=_settings()["enrol_code_minutes"])
    except nodes.RegistryError as exc:
        flash(_vi(exc))
        return redirect(url_for("nodes.index"), 303)
    purpose = "enrol" if nodes.get(conn, agency)["status"] == "pending" else "recover"
    current_app.logger.info("recovery code for node %s issued by %s", agency, g.user.username)
    return _code_page(agency, code, expires, purpose)


@bp.post("/<agency>/thu-hoi")
@admin_required
def revoke(agency):
    try:
        nodes.revoke(get_db(), agency, now=g.now)
    except nodes.RegistryError as exc:
        flash(_vi(exc))
    else:
        current_app.logger.info("node %s revoked by %s", agency, g.user.username)
        flash(f"Đã thu hồi đơn vị {agency}: mọi lần đồng bộ của máy này bị từ chối cho tới khi cấp mã khôi phục.")
    return redirect(url_for("nodes.detail", agency=agency), 303)
