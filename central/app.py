"""Central's Flask application factory."""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, g
from flask_wtf.csrf import CSRFProtect

from service.ratelimit import SlidingWindow
from service.web import harden

from service.settings import ConfigError
from . import db, keys
from .clock import local_now
from .ingest import Caps
from .settings import DB_NAME, load_settings, parse_settings

log = logging.getLogger("motcua.central")
csrf = CSRFProtect()


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

    if settings["max_body_bytes"] > settings["max_request_bytes"]:
        raise ConfigError("setting 'max_request_bytes' must be at least 'max_body_bytes' (a sync push must fit)")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        DATA_DIR=data_dir,
        DATABASE=data_dir / DB_NAME,
        MOTCUA=settings,
        CAPS=Caps.from_settings(settings),
        CLOCK=local_now,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="motcua_central_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["session_hours"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=settings["max_request_bytes"],  # waitress refuses more before buffering
    )
    app.config.update(test_config)
    app.json.ensure_ascii = False
    if not Path(app.config["DATABASE"]).exists():
        raise ConfigError(f"no database at {app.config['DATABASE']} (run motcua-central init first)")
    db.migrate(app.config["DATABASE"])
    app.extensions["motcua.central_key"] = keys.load(data_dir)
    app.extensions["motcua.login_limiter"] = SlidingWindow(settings["login_max_per_address"], 600)
    app.teardown_appcontext(db.close_db)
    csrf.init_app(app)

    from . import api, sync_views, views
    app.register_blueprint(sync_views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(sync_views.bp)  # signed envelopes, not browser forms
    csrf.exempt(api.bp)         # Bearer tokens, never cookies
    views.register(app, csrf)

    @app.before_request
    def clock():
        g.now = app.config["CLOCK"]()

    harden(app, "motcua.central")
    return app
