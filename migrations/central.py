"""Schema history of the central database. Released steps are never edited: add new ones.

Each step runs in its own transaction (sqlite-utils ``Migrations``).
"""
from sqlite_utils import Migrations

migrations = Migrations("motcua-central")


@migrations(name="0001_initial")
def m0001_initial(db):
    db.executescript("""
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,                  -- the commune's agency code
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
        enrolled_at TEXT,
        last_contact_at TEXT,
        pending_reported INTEGER,             -- events the node said it still had to send
        oldest_pending_at TEXT,
        clock_offset_seconds INTEGER,         -- node clock minus central clock at its last request
        head_seq INTEGER NOT NULL DEFAULT 0,
        head_hash TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
        catalogue_version INTEGER NOT NULL DEFAULT 0,   -- latest version queued in this node's feed
        calendar_version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE node_keys (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL REFERENCES nodes(id),
        public_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX node_keys_node ON node_keys(node, revoked_at);
    CREATE TABLE enrol_codes (
        code_hash TEXT PRIMARY KEY,
        node TEXT NOT NULL REFERENCES nodes(id),
        purpose TEXT NOT NULL CHECK (purpose IN ('enrol', 'recover')),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL REFERENCES nodes(id),
        signature TEXT NOT NULL,
        body BLOB NOT NULL,                   -- the gzip bytes exactly as received
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('push', 'bundle'))
    );
    CREATE INDEX batches_node ON batches(node, first_seq);
    CREATE TABLE events (
        node TEXT NOT NULL REFERENCES nodes(id),
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        hash TEXT NOT NULL,
        body TEXT NOT NULL,                   -- canonical JSON, verbatim
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        received_at TEXT NOT NULL,
        PRIMARY KEY (node, seq)
    ) WITHOUT ROWID;
    CREATE TABLE dossiers (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        node TEXT NOT NULL REFERENCES nodes(id),
        agency TEXT NOT NULL,
        procedure_code TEXT NOT NULL,
        procedure_name TEXT NOT NULL,
        field TEXT NOT NULL,
        channel TEXT NOT NULL,
        status INTEGER NOT NULL,
        handler TEXT,
        holder TEXT NOT NULL,
        received_at TEXT,
        due_at TEXT,
        resolved_at TEXT,
        returned_at TEXT,
        result_class TEXT,
        rating INTEGER,
        supplement_count INTEGER NOT NULL DEFAULT 0,
        applicant_name TEXT NOT NULL,
        name_folded TEXT NOT NULL,
        id_number TEXT NOT NULL,
        phone TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX dossiers_node ON dossiers(node, status);
    CREATE INDEX dossiers_status_due ON dossiers(status, due_at);
    CREATE INDEX dossiers_due ON dossiers(due_at);
    CREATE INDEX dossiers_name ON dossiers(name_folded);
    CREATE INDEX dossiers_id_number ON dossiers(id_number);
    CREATE INDEX dossiers_holder ON dossiers(holder);
    CREATE TABLE anomalies (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        dossier TEXT,
        message TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX anomalies_node ON anomalies(node, seq);
    CREATE TABLE forks (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        stored_hash TEXT NOT NULL,
        offered_hash TEXT NOT NULL,
        offered_body TEXT NOT NULL,
        at TEXT NOT NULL,
        UNIQUE (node, seq, offered_hash)
    );
    CREATE TABLE feed (
        node TEXT NOT NULL REFERENCES nodes(id),
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        hash TEXT NOT NULL,
        type TEXT NOT NULL,
        dossier TEXT,
        body TEXT NOT NULL,                   -- canonical JSON of the entry
        PRIMARY KEY (node, seq)
    ) WITHOUT ROWID;
    CREATE TABLE handbacks (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        node TEXT NOT NULL,
        handoff_no INTEGER NOT NULL,          -- index of the hand-up row in the dossier's handoffs
        feed_seq INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        UNIQUE (code, handoff_no)
    );
    CREATE TABLE reference (
        kind TEXT NOT NULL CHECK (kind IN ('catalogue', 'calendar')),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        published_at TEXT NOT NULL,
        PRIMARY KEY (kind, version)
    );
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        full_name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        token_hash TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE access_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        username TEXT NOT NULL,
        dossier TEXT NOT NULL,
        action TEXT NOT NULL
    );
    CREATE INDEX access_log_dossier ON access_log(dossier, at);
    """)


@migrations(name="0002_central_web")
def m0002_central_web(db):
    db.executescript("""
    -- The node's applied feed head, as the node states it in each feed request ("after"):
    -- the reference versions it has APPLIED follow from the feed entries up to this seq.
    ALTER TABLE nodes ADD COLUMN feed_applied_seq INTEGER;

    -- Report figures for a period (overview, II.06a): the dossiers that can count are those received
    -- in the period, resolved at or after its start, or not resolved (open or withdrawn). These two
    -- indexes cover every projection column a figure reads, so those ranges are read from index
    -- entries alone; the withdrawal time of stopped dossiers is indexed from the document.
    CREATE INDEX dossiers_period_received ON dossiers(received_at, node, agency, field, procedure_code, channel,
                                                      status, due_at, resolved_at, result_class, supplement_count);
    CREATE INDEX dossiers_period_resolved ON dossiers(resolved_at, received_at, node, agency, field, procedure_code,
                                                      channel, status, due_at, result_class, supplement_count);
    CREATE INDEX dossiers_withdrawn_at ON dossiers(json_extract(doc, '$.withdrawal.at')) WHERE status IN (7, 8);
    CREATE INDEX dossiers_phone ON dossiers(phone);
    CREATE INDEX dossiers_code_tail ON dossiers(substr(code, -4));

    -- Diacritic-free name search, kept in step with the dossier rows by triggers.
    CREATE VIRTUAL TABLE dossiers_fts USING fts5(
        name_folded, content='dossiers', content_rowid='id', tokenize='unicode61'
    );
    INSERT INTO dossiers_fts(dossiers_fts) VALUES ('rebuild');
    CREATE TRIGGER dossiers_fts_insert AFTER INSERT ON dossiers BEGIN
        INSERT INTO dossiers_fts(rowid, name_folded) VALUES (new.id, new.name_folded);
    END;
    CREATE TRIGGER dossiers_fts_delete AFTER DELETE ON dossiers BEGIN
        INSERT INTO dossiers_fts(dossiers_fts, rowid, name_folded) VALUES ('delete', old.id, old.name_folded);
    END;
    CREATE TRIGGER dossiers_fts_update AFTER UPDATE OF name_folded ON dossiers
    WHEN old.name_folded IS NOT new.name_folded BEGIN
        INSERT INTO dossiers_fts(dossiers_fts, rowid, name_folded) VALUES ('delete', old.id, old.name_folded);
        INSERT INTO dossiers_fts(rowid, name_folded) VALUES (new.id, new.name_folded);
    END;

    -- A dossier's history: its events (every node) and central's feed entries about it.
    CREATE INDEX events_dossier ON events(json_extract(body, '$.dossier'));
    CREATE INDEX feed_dossier ON feed(dossier);
    CREATE INDEX feed_node_type ON feed(node, type, seq);

    -- What an admin is editing before "Xuất bản": one draft per kind, based on a published version.
    CREATE TABLE drafts (
        kind TEXT PRIMARY KEY CHECK (kind IN ('catalogue', 'calendar')),
        base_version INTEGER NOT NULL,
        body TEXT NOT NULL,                   -- {"procedures": [...]} or {"entries": [...]}
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL
    );

    -- Who at central looks after a handed-up dossier (one row per hand-up of the dossier).
    CREATE TABLE assignments (
        code TEXT NOT NULL,
        handoff_no INTEGER NOT NULL,
        username TEXT NOT NULL,
        assigned_at TEXT NOT NULL,
        assigned_by TEXT NOT NULL,
        PRIMARY KEY (code, handoff_no)
    );
    CREATE INDEX assignments_user ON assignments(username);

    -- Online dossiers registered at central and handed down: codes <agency>-YYMMDD-9001..9999.
    CREATE TABLE online_counters (
        agency TEXT NOT NULL,
        day TEXT NOT NULL,                    -- YYMMDD
        last INTEGER NOT NULL,
        PRIMARY KEY (agency, day)
    ) WITHOUT ROWID;
    CREATE TABLE online_dossiers (
        code TEXT PRIMARY KEY,
        node TEXT NOT NULL REFERENCES nodes(id),
        procedure_code TEXT NOT NULL,
        procedure_name TEXT NOT NULL,
        feed_seq INTEGER NOT NULL,
        registered_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('web', 'api'))
    );
    CREATE INDEX online_dossiers_node ON online_dossiers(node, registered_at);
    CREATE INDEX access_log_user ON access_log(username, at);
    """)


@migrations(name="0003_report_indexes")
def m0003_report_indexes(db):
    db.executescript("""
    -- domain.reports reads a long period (a year's II.06a) from this covering index, walked in
    -- commune x field order (nothing to sort, no row with its doc JSON read), and ratings from the
    -- returned dossiers only. A recent period (the overview's month) reads dossiers_period_resolved.
    CREATE INDEX dossiers_report ON dossiers(agency, field, received_at, resolved_at, channel, status, due_at,
                                             result_class, supplement_count);
    CREATE INDEX dossiers_returned ON dossiers(returned_at, rating);
    -- Not used by the report queries (they never walk received_at, and read the withdrawal time by
    -- row id): every dossier write would keep them up to date for nothing.
    DROP INDEX dossiers_period_received;
    DROP INDEX dossiers_withdrawn_at;
    """)


@migrations(name="0004_sessions")
def m0004_sessions(db):
    # Server-side sessions (logout, a password change or disabling an account ends them at once)
    # and the flag an admin's password reset sets so the next login must choose a new password.
    db.executescript("""
    ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    """)


@migrations(name="0005_blobs")
def m0005_blobs(db):
    # Document blobs (issue 11): which objects central holds (bytes in central.blobstore), resumable
    # uploads in progress, and what each node says it still has to send.
    db.executescript("""
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        node TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('link', 'usb', 'restore')),
        stored_at TEXT NOT NULL
    );
    CREATE TABLE blob_uploads (
        upload_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        received INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (node, hash)
    );
    CREATE TABLE blob_backlog (
        node TEXT PRIMARY KEY,
        files INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        oldest_at TEXT,
        reported_at TEXT NOT NULL
    );
    """)


@migrations(name="0006_drop_unread_dossier_indexes")
def m0006_drop_unread_dossier_indexes(db):
    # No query of central reads these (name search goes through dossiers_fts; nothing filters or sorts
    # dossiers by due_at or by status and due_at: the queue walks dossiers_holder, reports their own
    # indexes), yet every dossier a push materialises updated all three: about 5 us of the serving
    # process's CPU per pushed event (bench/README.md, "Ingest, third pass"). tests/central/test_query_plans.py
    # checks that search, queue and report queries still read dossiers through an index.
    db.executescript("""
    DROP INDEX dossiers_name;
    DROP INDEX dossiers_due;
    DROP INDEX dossiers_status_due;
    """)


@migrations(name="0007_events_rowid_table")
def m0007_events_rowid_table(db):
    # events was a WITHOUT ROWID table keyed by (node, seq): each event's body lay in the primary key's
    # b-tree, where a row over ~1,000 bytes (every intake) spills to an overflow page of its own and each
    # push inserts in the middle of its node's range, so the table took ~1.4 kB of pages per event and
    # every push wrote (WAL, fsync, checkpoint) that many. As a rowid table events are appended, a body
    # of up to ~4 kB stays in its row, and (node, seq) is the same primary key through its own index:
    # the same rows and constraint, ~25 % fewer pages and ~3 us less of the serving process's CPU per
    # pushed event (bench/README.md, "Ingest, fourth pass"). The step runs in one transaction (sqlite-utils).
    db.executescript("""
    CREATE TABLE events_rowid (
        node TEXT NOT NULL REFERENCES nodes(id),
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        hash TEXT NOT NULL,
        body TEXT NOT NULL,                   -- canonical JSON, verbatim
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        received_at TEXT NOT NULL,
        PRIMARY KEY (node, seq)
    );
    INSERT INTO events_rowid(node, seq, id, hash, body, batch_id, received_at)
        SELECT node, seq, id, hash, body, batch_id, received_at FROM events ORDER BY node, seq;
    DROP TABLE events;
    ALTER TABLE events_rowid RENAME TO events;
    CREATE INDEX events_dossier ON events(json_extract(body, '$.dossier'));
    """)


@migrations(name="0008_names_indexed_per_push")
def m0008_names_indexed_per_push(db):
    # A trigger put each new dossier's folded name into dossiers_fts, one row at a time, and FTS5 flushes
    # its pending terms at every statement a trigger runs: ~25 us of the writer's time per dossier, half
    # of a new row's whole cost. Central inserts dossier rows in one place, central.ingest.write_rows,
    # which now indexes the names of the rows it inserted with one INSERT ... SELECT
    # (central.ingest.index_names): the same index content, ~2 us per dossier. The update and delete
    # triggers stay (a name rarely changes). tests/central/test_name_index.py checks the index holds
    # every stored dossier's name after pushes, updates and failures.
    db.executescript("DROP TRIGGER dossiers_fts_insert;")
