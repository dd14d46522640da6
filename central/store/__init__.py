"""Central's store: the SQL behind central's pages, JSON API and sync endpoints.

Views, the API and the sync endpoints hold no SQL: they call these modules, which take a
connection (``central.db.get_db()`` in a request, ``central.db.connect`` in a command), open their
own write transactions, and return plain dicts, tuples and dataclasses.

- ``dossiers``: one dossier with its node, history, feed entries, anomalies; the access log.
- ``search``: finding dossiers across communes (code, ID number, phone, name without diacritics).
- ``queue``: the liên thông queue of handed-up dossiers and their assignments.
- ``nodes``: the node registry and keys, enrolment, sync health, what a node pushed.
- ``publishing``: catalogue and calendar drafts, publishing them to every node.
- ``reports``: the II.06a figures and ratings over every commune, report names and fields.
- ``accounts``: account queries the pages need beyond ``central.users``.
- ``dialect``: the engine-specific SQL (JSON paths, upserts, hints, full-text search), in one place
  so a second engine (PostgreSQL) can come behind this seam.

Ingest, the feed, hand-back, online registration and bundles (``central.ingest``, ``central.feed``,
``central.handback``, ``central.online``, ``central.bundle``) keep their own SQL next to their rules.
"""
