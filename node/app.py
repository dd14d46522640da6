"""The node's Flask application factory."""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from . import db
from .clock import local_now
from .database import migrate
from service.ratelimit import SlidingWindow
from .reference import CalendarCache
from .settings import DB_NAME, ConfigError, load_settings, parse_settings

csrf = CSRFProtect()
log = logging.getLogger("motcua.node")


def create_app(test_config: dict | None = None) -> Flask:
    """Build the node app for the data folder in test_config["DATA_DIR"] or $MOTCUA_DATA.

    test_config may also carry "SETTINGS" (a dict parsed like motcua.toml instead of the file)
    and "CLOCK" (a callable returning local now) for tests.
    """
    test_config = dict(test_config or {})
    data_dir = Path(test_config.pop("DATA_DIR", None) or os.environ.get("MOTCUA_DATA") or "")
    if not str(data_dir) or str(data_dir) == ".":
        raise ConfigError("no data folder: pass --data DIR or set MOTCUA_DATA")
    settings = parse_settings(test_config.pop("SETTINGS")) if "SETTINGS" in test_config else load_settings(data_dir)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        DATA_DIR=data_dir,
        DATABASE=data_dir / DB_NAME,
        MOTCUA=settings,
        CLOCK=local_now,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="motcua_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["session_hours"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.config.update(test_config)
    if not Path(app.config["DATABASE"]).exists():
        raise ConfigError(f"no database at {app.config['DATABASE']} (run motcua-node init first)")
    migrate(app.config["DATABASE"], backup_dir=data_dir / "backups")

    app.extensions["motcua.calendar"] = CalendarCache(settings["working_hours"])
    app.extensions["motcua.lookup_limiter"] = SlidingWindow(settings["lookup_max_attempts"], 600)
    app.extensions["motcua.login_limiter"] = SlidingWindow(30, 600)

    db.init_app(app)
    csrf.init_app(app)

    from .views import admin, api, auth, desk, forms, health, lookup, reports, syncbar
    app.register_blueprint(auth.bp)
    app.register_blueprint(syncbar.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(forms.bp)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    from .views import documents; documents.register(app)  # noqa: E702 - documents pages and API (issue 10)

    from .views.filters import register as register_filters
    register_filters(app)

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return render_template("error.html", title="Phiên làm việc đã hết hạn",
                               message="Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."), 400

    @app.errorhandler(404)
    def not_found(exc):
        if wants_json():
            return api.error("not_found", "No such resource.", 404)
        return render_template("error.html", title="Không tìm thấy",
                               message="Trang hoặc hồ sơ bạn tìm không tồn tại."), 404

    @app.errorhandler(405)
    def not_allowed(exc):
        if wants_json():
            return api.error("method_not_allowed", "Method not allowed here.", 405)
        return render_template("error.html", title="Không hợp lệ", message="Thao tác không hợp lệ."), 405

    @app.errorhandler(413)
    def too_large(exc):
        if wants_json():
            return api.error("too_large", "Request body too large.", 413)
        return render_template("error.html", title="Dữ liệu quá lớn", message="Dữ liệu gửi lên quá lớn."), 413

    @app.errorhandler(500)
    def server_error(exc):
        log.error("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api.error("internal", "Internal error; see the node log.", 500)
        return render_template("error.html", title="Lỗi hệ thống",
                               message="Đã có lỗi xảy ra. Dữ liệu đã lưu không bị ảnh hưởng. "
                                       "Vui lòng thử lại hoặc báo cán bộ kỹ thuật."), 500

    @app.errorhandler(Exception)
    def unhandled(exc):
        from werkzeug.exceptions import HTTPException
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return server_error(exc)

    @app.before_request
    def clock():
        g.now = app.config["CLOCK"]()

    @app.after_request
    def wake_sync(response):
        """A saved change is pushed at once when a link exists (the worker runs only in `run`)."""
        worker = app.extensions.get("motcua.sync")
        if worker is not None and request.method == "POST" and response.status_code < 400:
            worker.notify_change()
        return response

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                    "script-src 'self'; form-action 'self'; frame-ancestors 'none'")
        if request.path.startswith(("/ho-so", "/bieu-mau", "/api/")):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
