"""The node's Flask application factory."""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect

from service.settings import ConfigError
from . import db
from .clock import local_now
from .db import migrate
from service.ratelimit import SlidingWindow
from service.web import harden
from .reference import CalendarCache
from .settings import DB_NAME, load_settings, parse_settings

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
        MAX_CONTENT_LENGTH=settings["max_request_bytes"],  # waitress refuses more before buffering
        JSON_AS_ASCII=False,
    )
    app.config.update(test_config)
    if not Path(app.config["DATABASE"]).exists():
        raise ConfigError(f"no database at {app.config['DATABASE']} (run motcua-node init first)")
    migrate(app.config["DATABASE"], backup_dir=data_dir / "backups")

    app.extensions["motcua.calendar"] = CalendarCache(settings["working_hours"])
    app.extensions["motcua.lookup_limiter"] = SlidingWindow(settings["lookup_max_attempts"], 600)
    app.extensions["motcua.login_limiter"] = SlidingWindow(settings["login_max_per_address"], 600)

    db.init_app(app)
    csrf.init_app(app)
    harden(app, "motcua.node")

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

    from .views.filters import register as register_filters
    register_filters(app)

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

    return app
