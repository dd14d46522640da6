"""Central's Flask application factory."""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from . import db, keys
from .clock import local_now
from .ingest import Caps
from .settings import DB_NAME, ConfigError, load_settings, parse_settings

log = logging.getLogger("motcua.central")
csrf = CSRFProtect()

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(test_config: dict | None = None) -> Flask:
    """Build central for the data folder in test_config["DATA_DIR"] or $MOTCUA_CENTRAL_DATA.

    test_config may also carry "SETTINGS" (a dict parsed like motcua-central.toml) and
    "CLOCK" (a callable returning local now) for tests.
    """
    test_config = dict(test_config or {})
    data_dir = Path(test_config.pop("DATA_DIR", None) or os.environ.get("MOTCUA_CENTRAL_DATA") or "")
    if not str(data_dir) or str(data_dir) == ".":
        raise ConfigError("no data folder: pass --data DIR or set MOTCUA_CENTRAL_DATA")
    settings = parse_settings(test_config.pop("SETTINGS")) if "SETTINGS" in test_config else load_settings(data_dir)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        DATA_DIR=data_dir,
        DATABASE=db.target(data_dir, settings),
        READ_DATABASE=settings["read_database"] or None,
        MOTCUA=settings,
        CAPS=Caps.from_settings(settings),
        CLOCK=local_now,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="motcua_central_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["session_hours"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.config.update(test_config)
    app.json.ensure_ascii = False
    if not db.is_postgres(app.config["DATABASE"]) and not Path(app.config["DATABASE"]).exists():
        raise ConfigError(f"no database at {app.config['DATABASE']} (run motcua-central init first)")
    db.migrate(app.config["DATABASE"])
    app.extensions["motcua.central_key"] = keys.load(data_dir)
    from service.ratelimit import SlidingWindow
    app.extensions["motcua.login_limiter"] = SlidingWindow(30, 600)
    app.teardown_appcontext(db.close_db)
    csrf.init_app(app)

    from . import views
    from .views import api  # api.error: the JSON error body of the handlers below
    views.register(app, csrf)

    @app.before_request
    def clock():
        g.now = app.config["CLOCK"]()

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    def page(status: int, title: str, message: str):
        return render_template("error.html", title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return page(400, "Phiên làm việc đã hết hạn",
                    "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.")

    @app.errorhandler(403)
    def forbidden(exc):
        if wants_json():
            return api.error("forbidden", "Only an admin may do this.", 403)
        return page(403, "Không có quyền", "Tài khoản của bạn không được thực hiện thao tác này.")

    @app.errorhandler(404)
    def not_found(exc):
        if wants_json():
            return api.error("not_found", "No such resource.", 404)
        return page(404, "Không tìm thấy", "Trang, hồ sơ hoặc đơn vị bạn tìm không tồn tại.")

    @app.errorhandler(405)
    def not_allowed(exc):
        if wants_json():
            return api.error("method_not_allowed", "Method not allowed here.", 405)
        return page(405, "Không hợp lệ", "Thao tác không hợp lệ.")

    @app.errorhandler(413)
    def too_large(exc):
        if wants_json():
            return api.error("too_large", "Request body too large.", 413)
        return page(413, "Dữ liệu quá lớn", "Dữ liệu gửi lên quá lớn.")

    @app.errorhandler(500)
    def server_error(exc):
        log.error("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api.error("internal", "Internal error; see central's log.", 500)
        return page(500, "Lỗi hệ thống", "Đã có lỗi xảy ra; dữ liệu đã lưu không bị ảnh hưởng. "
                                          "Vui lòng thử lại hoặc báo cán bộ kỹ thuật.")

    @app.errorhandler(Exception)
    def unhandled(exc):
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return server_error(exc)

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
