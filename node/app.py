"""The node's Flask application factory (the shared shell is appshell.web.base_app)."""
from __future__ import annotations

from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect

from appshell.ratelimit import SlidingWindow
from appshell.web import base_app

from . import db
from .clock import legal_time, local_now
from .reference import CalendarCache
from .settings import DB_NAME, FILE

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the node app for the data folder in test_config["DATA_DIR"] or $MOTCUA_DATA.

    test_config may also carry "SETTINGS" (a dict parsed like motcua.toml instead of the file)
    and "CLOCK" (a callable returning local now) for tests.
    """
    app = base_app(__name__, test_config, envvar="MOTCUA_DATA", settings_file=FILE, db_name=DB_NAME,
                   cookie_name="motcua_session", program="motcua-node", logger="motcua.node", clock=local_now)
    settings, data_dir = app.config["MOTCUA"], app.config["DATA_DIR"]
    app.config.setdefault("STATUS_REFRESH_SECONDS", 30)  # how often app.js refreshes the status bar
    db.migrate(app.config["DATABASE"], backup_dir=data_dir / "backups")

    app.extensions["motcua.calendar"] = CalendarCache(settings["working_hours"])
    from .views.lookup import ADDRESS_FACTOR
    limit = settings["lookup_max_attempts"]  # per dossier code; per address ten times as many
    app.extensions["motcua.lookup_code_limiter"] = SlidingWindow(limit, 600)
    app.extensions["motcua.lookup_address_limiter"] = SlidingWindow(limit * ADDRESS_FACTOR, 600)

    db.init_app(app)
    csrf.init_app(app)

    from .views import admin, api, auth, desk, documents, forms, health, lookup, reports, syncbar
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
    documents.register(app)  # documents pages and API (issue 10)

    from .views.filters import register as register_filters
    register_filters(app)

    @app.before_request
    def legal_now():
        """The request's clock is the legal time (issue 8.13): lists, today and overdue follow central's
        clock when this PC's is known to be off; ``g.pc_now`` keeps what the PC said (appshell.web set g.now)."""
        g.pc_now = g.now
        if request.endpoint != "static":
            g.now = legal_time(db.get_db(), g.pc_now).now

    @app.after_request
    def wake_sync(response):
        """A saved change is pushed at once when a link exists (the worker runs only in `run`)."""
        worker = app.extensions.get("motcua.sync")
        if worker is not None and request.method == "POST" and response.status_code < 400:
            worker.notify_change()
        return response

    return app
