"""Central's Flask application factory."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, g, jsonify

from . import db, keys
from .clock import local_now
from .ingest import Caps
from .settings import DB_NAME, ConfigError, load_settings, parse_settings

log = logging.getLogger("motcua.central")


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
        DATABASE=data_dir / DB_NAME,
        MOTCUA=settings,
        CAPS=Caps.from_settings(settings),
        CLOCK=local_now,
    )
    app.config.update(test_config)
    app.json.ensure_ascii = False
    if not Path(app.config["DATABASE"]).exists():
        raise ConfigError(f"no database at {app.config['DATABASE']} (run motcua-central init first)")
    db.migrate(app.config["DATABASE"])
    app.extensions["motcua.central_key"] = keys.load(data_dir)
    app.teardown_appcontext(db.close_db)

    from . import api, sync_views
    app.register_blueprint(sync_views.bp)
    app.register_blueprint(api.bp)

    @app.before_request
    def clock():
        g.now = app.config["CLOCK"]()

    @app.errorhandler(404)
    def not_found(exc):
        return jsonify({"error": {"code": "not_found", "message": "No such resource."}}), 404

    @app.errorhandler(405)
    def not_allowed(exc):
        return jsonify({"error": {"code": "method_not_allowed", "message": "Method not allowed here."}}), 405

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index():
        return jsonify({"name": settings["name"], "central_fingerprint": keys.fingerprint(
            app.extensions["motcua.central_key"]), "central_time": g.now.isoformat()})

    return app
