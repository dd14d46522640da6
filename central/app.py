"""Central's Flask application factory (the shared shell is appshell.web.base_app)."""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from appshell.settings import ConfigError
from appshell.web import PARTIAL_BODIES, base_app
from domain.clock import local_now

from . import db, keys
from .cut_pushes import CUT_PUSHES, CutPushes
from .ingest import Caps
from .settings import DB_NAME, FILE

csrf = CSRFProtect()


def _check(settings: dict) -> None:
    if settings["max_body_bytes"] > settings["max_request_bytes"]:
        raise ConfigError("setting 'max_request_bytes' must be at least 'max_body_bytes' (a sync push must fit)")


def create_app(test_config: dict | None = None) -> Flask:
    """Build central for the data folder in test_config["DATA_DIR"] or $MOTCUA_CENTRAL_DATA.

    test_config may also carry "SETTINGS" (a dict parsed like motcua-central.toml) and
    "CLOCK" (a callable returning local now) for tests.
    """
    app = base_app(__name__, test_config, envvar="MOTCUA_CENTRAL_DATA", settings_file=FILE, db_name=DB_NAME,
                   cookie_name="motcua_central_session", program="motcua-central", logger="motcua.central",
                   clock=local_now, check=_check, database=db.target)
    settings, data_dir = app.config["MOTCUA"], app.config["DATA_DIR"]
    app.config.setdefault("READ_DATABASE", settings["read_database"] or None)
    app.config.setdefault("CAPS", Caps.from_settings(settings))
    db.migrate(app.config["DATABASE"])
    app.extensions["motcua.central_key"] = keys.load(data_dir)
    cut_pushes = CutPushes(settings["sync_resume_bytes"], settings["max_body_bytes"])
    app.extensions[CUT_PUSHES] = cut_pushes
    app.extensions[PARTIAL_BODIES] = cut_pushes.keep  # waitress hands it what a cut request left
    app.teardown_appcontext(db.close_db)
    csrf.init_app(app)

    from . import views
    from .views import blobs as blob_views
    views.register(app, csrf)
    app.register_blueprint(blob_views.bp)
    csrf.exempt(blob_views.bp)  # signed chunks and envelopes (issue 11), not browser forms

    return app
