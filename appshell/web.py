"""The web shell both servers share: security headers, error pages and the one JSON error body.

``harden(app)`` is called by each app factory. Pages answer with the app's own ``error.html``
in Vietnamese; anything under ``/api/`` answers ``{"error": {"code", "message", "fields"?}}``.
Every response that is not a static file carries ``Cache-Control: no-store``: staff pages show
citizens' data (home, lists, search, a dossier), and no shared browser cache may keep them.
"""
from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable

from flask import Blueprint, Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .settings import ConfigError

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

# the app's static/ and the shell's appshell/static/ (shell.css, which templates/shared/layout.html links first)
STATIC_ENDPOINTS = ("static", "shell.static")

# status -> (JSON code, English message, Vietnamese title, Vietnamese message)
ERRORS = {
    400: ("bad_request", "Bad request.", "Yêu cầu không hợp lệ", "Dữ liệu gửi lên không hợp lệ. Vui lòng thử lại."),
    403: ("forbidden", "You may not do this.", "Không có quyền",
          "Tài khoản của bạn không được thực hiện thao tác này."),
    404: ("not_found", "No such resource.", "Không tìm thấy", "Trang hoặc hồ sơ bạn tìm không tồn tại."),
    405: ("method_not_allowed", "Method not allowed here.", "Không hợp lệ", "Thao tác không hợp lệ."),
    413: ("too_large", "Request body too large.", "Dữ liệu quá lớn", "Dữ liệu gửi lên quá lớn."),
    429: ("too_many_requests", "Too many requests; try again later.", "Quá nhiều yêu cầu",
          "Bạn đã thử quá nhiều lần. Vui lòng thử lại sau ít phút."),
    500: ("internal", "Internal error; see the server log.", "Lỗi hệ thống",
          "Đã có lỗi xảy ra. Dữ liệu đã lưu không bị ảnh hưởng. Vui lòng thử lại hoặc báo cán bộ kỹ thuật."),
}


def api_error(code: str, message: str, status: int, fields: dict | None = None):
    """The one JSON error body of both servers' APIs."""
    body: dict = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int):
    code, message, title, text = ERRORS[status]
    if _wants_json():
        return api_error(code, message, status)
    return render_template("error.html", title=title, message=text), status


def harden(app: Flask, logger: str) -> None:
    """Register the error handlers and security headers on ``app``."""
    log = logging.getLogger(logger)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        if _wants_json():
            return api_error("csrf", "Missing or invalid CSRF token.", 400)
        return render_template("error.html", title="Phiên làm việc đã hết hạn",
                               message="Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."), 400

    def page_for(status):
        return lambda exc: error_response(status)

    for status in ERRORS:
        if status != 500:
            app.register_error_handler(status, page_for(status))

    @app.errorhandler(500)
    def server_error(exc):
        log.error("unhandled error on %s %s", request.method, request.path)
        return error_response(500)

    @app.errorhandler(Exception)
    def unhandled(exc):
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return error_response(500)

    @app.after_request
    def security_headers(response):
        if request.path.startswith("/api/"):  # JSON and signed envelopes for programs: no browser headers
            if not request.path.startswith(("/api/v1/sync/", "/api/v1/enroll")):
                response.headers["Cache-Control"] = "no-store"  # personal data: never cached on the way
            return response
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if request.endpoint not in STATIC_ENDPOINTS and not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


PARTIAL_BODIES = "motcua.partial_bodies"  # app.extensions key: see make_server


def _partial_body_channel(keep: Callable):
    """A waitress channel that, when its connection dies in the middle of a request body, hands
    what arrived to ``keep(path, headers, read, length)`` (headers as waitress names them:
    ``X_MOTCUA_NODE``; ``read()`` gives the bytes that arrived, for the paths it keeps). Waitress
    buffers a body whole before the app sees it, so without this the bytes of a cut request are
    thrown away (central keeps a cut push this way: protocol/sync.py RESUME).

    Runs in waitress's I/O thread: ``keep`` must only copy bytes, never block. Fixed-length bodies only.
    """
    from waitress.channel import HTTPChannel
    from waitress.receiver import FixedStreamReceiver

    log = logging.getLogger("motcua.web")

    class PartialBodyChannel(HTTPChannel):
        def _keep_partial(self) -> None:
            request, self.request = self.request, None
            if request is None or not request.headers_finished or request.completed or request.error:
                return
            receiver = request.body_rcv
            if not isinstance(receiver, FixedStreamReceiver) or not len(receiver):
                return
            try:
                keep(request.path, dict(request.headers), lambda: bytes(receiver.getbuf().get(len(receiver))),
                     request.content_length)
            except Exception:  # never break waitress's I/O loop over a lost request
                log.exception("could not keep the part of a cut request body")
            finally:
                request.close()

        def handle_read(self) -> None:
            super().handle_read()
            if not self.connected:  # the client closed its side mid-request
                with self.requests_lock:
                    self._keep_partial()

        def handle_close(self) -> None:  # a reset, or closing for any other reason
            with self.requests_lock:
                self._keep_partial()
            super().handle_close()

    return PartialBodyChannel


def make_server(app: Flask, host: str, port: int, threads: int, ident: str):
    """A waitress server capped at the app's ``max_request_bytes`` before any body is buffered.

    When the app puts a callable under ``app.extensions[PARTIAL_BODIES]``, the part of a request
    body that arrived before its connection died goes to it (``_partial_body_channel``).
    A port already in use (or not ours to take) is a ConfigError: one English line, exit code 2.
    """
    from waitress.server import create_server
    cap = app.config["MAX_CONTENT_LENGTH"]
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident=ident,
                               max_request_body_size=cap, inbuf_overflow=min(cap, 512 * 1024))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use (another server runs there; "
                              f"stop it or pass --port)") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    keep = app.extensions.get(PARTIAL_BODIES)
    if keep is not None:  # this server's channels only (one listener per address it listens on)
        from waitress.server import BaseWSGIServer
        channel = _partial_body_channel(keep)
        for listener in ([server] if isinstance(server, BaseWSGIServer) else
                         [s for s in server.map.values() if isinstance(s, BaseWSGIServer)]):
            listener.channel_class = channel
    return server


def serve(app: Flask, host: str, port: int, threads: int, ident: str) -> None:
    make_server(app, host, port, threads, ident).run()


def base_app(import_name: str, test_config: dict | None, *, envvar: str, settings_file, db_name: str,
             cookie_name: str, program: str, logger: str, clock: Callable,
             check: Callable[[dict], None] | None = None, database: Callable | None = None) -> Flask:
    """The Flask app both servers start from, for the data folder in test_config["DATA_DIR"] or $envvar.

    test_config may also carry "SETTINGS" (a dict parsed like the settings file instead of the file)
    and "CLOCK" (a callable returning local now) for tests; the rest overrides Flask's config.
    Sets the session cookie, CSRF and body-cap config, the per-address login limiter, ``g.now``
    before each request, and ``harden``. The caller migrates the database and adds its blueprints.
    ``database(data_dir, settings)``, when given, names the database instead of ``data_dir / db_name``
    (central: a postgresql:// URL from its settings, which is not a file to look for).
    """
    from datetime import timedelta
    from pathlib import Path

    from flask import g

    from .ratelimit import SlidingWindow

    test_config = dict(test_config or {})
    data_dir = Path(test_config.pop("DATA_DIR", None) or os.environ.get(envvar) or "")
    if not str(data_dir) or str(data_dir) == ".":
        raise ConfigError(f"no data folder: pass --data DIR or set {envvar}")
    settings = (settings_file.parse(test_config.pop("SETTINGS")) if "SETTINGS" in test_config
                else settings_file.load(data_dir))
    if check is not None:
        check(settings)
    app = Flask(import_name)
    app.register_blueprint(Blueprint("shell", __name__, static_folder="static", static_url_path="/static/shell"))
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        DATA_DIR=data_dir,
        DATABASE=database(data_dir, settings) if database else data_dir / db_name,
        MOTCUA=settings,
        CLOCK=clock,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME=cookie_name,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["session_hours"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=settings["max_request_bytes"],  # waitress refuses more before buffering
    )
    app.json.ensure_ascii = False
    app.config.update(test_config)
    where = app.config["DATABASE"]
    if not str(where).startswith(("postgresql://", "postgres://")) and not Path(where).exists():
        raise ConfigError(f"no database at {app.config['DATABASE']} (run {program} init first)")
    app.extensions["motcua.login_limiter"] = SlidingWindow(settings["login_max_per_address"], 600)

    @app.before_request
    def set_now():
        g.now = app.config["CLOCK"]()

    harden(app, logger)
    return app
