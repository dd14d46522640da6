"""Trực tuyến: register an online dossier for a commune (as the national portal would) and follow it."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from appshell.web_auth import admin_required, login_required
from domain import workflow
from domain.catalogue import fields as catalogue_fields

from .. import online
from ..db import get_db
from ..store import nodes

bp = Blueprint("online", __name__, url_prefix="/truc-tuyen")


def documents_from_form(form, procedure_code: str) -> list[dict]:
    """The ticked documents of the chosen procedure (fields doc:<code>:<i>, kind:..., count:...)."""
    docs = []
    prefix = f"doc:{procedure_code}:"
    for key in form:
        if not key.startswith(prefix):
            continue
        index = key[len(prefix):]
        docs.append({"name": form.get(key, ""), "kind": form.get(f"kind:{procedure_code}:{index}", "original"),
                     "count": form.get(f"count:{procedure_code}:{index}", "1")})
    extra = (form.get("doc_extra") or "").strip()
    if extra:
        docs.append({"name": extra, "kind": form.get("doc_extra_kind", "copy"),
                     "count": form.get("doc_extra_count", "1")})
    return docs


def _page(errors=None, status=200):
    conn = get_db()
    version, procedures = online.procedures(conn)
    communes = nodes.names(conn, active_only=True)
    return render_template("online/index.html", rows=online.listing(conn), procedures=procedures,
                           fields=catalogue_fields(procedures), catalogue_version=version, communes=communes,
                           errors=errors or {}, form=request.form, return_methods=workflow.RETURN_METHODS), status


@bp.get("")
@login_required
def index():
    return _page()


@bp.post("")
@admin_required
def register():
    form = request.form
    procedure_code = form.get("procedure_code", "")
    applicant = {k: form.get(k, "") for k in ("name", "id_number", "phone", "address", "email")}
    try:
        state, entry = online.register(get_db(), node=form.get("node", ""), procedure_code=procedure_code,
                                       applicant=applicant, documents=documents_from_form(form, procedure_code),
                                       return_method=form.get("return_method", ""), actor=g.user.username,
                                       now=g.now, source="web")
    except workflow.WorkflowError as exc:
        errors = {}
        for e in exc.errors:
            errors.setdefault(e.field.split(".")[0], e.message)
        return _page(errors, 400)
    flash(f"Đã đăng ký hồ sơ trực tuyến {state['code']} và chuyển xuống {state['agency']} "
          f"(mục {entry['seq']} trong luồng gửi xã). Hồ sơ hiện ở xã với trạng thái 1 khi xã đồng bộ.")
    return redirect(url_for("online.index"), 303)
