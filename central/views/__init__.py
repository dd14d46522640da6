"""Central's web product: server-rendered Vietnamese pages for upper-level staff (one blueprint
per area), the staff JSON API (``api``) and the signed-envelope endpoints nodes call (``sync``).
Views stay thin: parse the request, call ``central.store`` and central's modules or the domain,
render."""
from __future__ import annotations


def register(app, csrf) -> None:
    from . import admin, api, auth, dossiers, nodes, online, overview, publish, queue, reports, sync, verify
    from .filters import register as register_filters
    for module in (auth, overview, dossiers, queue, online, publish, nodes, admin, reports, verify):
        app.register_blueprint(module.bp)
    app.register_blueprint(sync.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(sync.bp)  # signed envelopes, not browser forms
    csrf.exempt(api.bp)   # Bearer tokens, never cookies
    from . import blob_restore, documents  # a rebuilt node fetches its documents back; an admin opens one
    app.register_blueprint(documents.bp)
    app.register_blueprint(blob_restore.bp)
    csrf.exempt(blob_restore.bp)
    register_filters(app)
