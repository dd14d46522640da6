"""Central's web product: server-rendered Vietnamese pages for upper-level staff, and the JSON API
additions (overview, dossier search, online registration). One blueprint per area; views stay
thin: parse the form, call central's modules or the domain, render."""
from __future__ import annotations

import importlib
import importlib.util

# Blueprints other areas add to this package (mounted when present): the II.06a report pages.
OPTIONAL = ("reports", "verify")


def register(app, csrf) -> None:
    from . import admin, api, auth, dossiers, nodes, online, overview, publish, queue
    from .filters import register as register_filters
    for module in (auth, overview, dossiers, queue, online, publish, nodes, admin):
        app.register_blueprint(module.bp)
    for name in OPTIONAL:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            app.register_blueprint(importlib.import_module(f"{__name__}.{name}").bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    register_filters(app)
