"""Schema history of the node database. Released steps are never edited: add new ones.

Each step runs in its own transaction (sqlite-utils ``Migrations``).
"""
from sqlite_utils import Migrations

migrations = Migrations("motcua-node")


@migrations(name="0001_initial")
def m0001_initial(db):
    db.executescript("""
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        full_name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN ('clerk', 'leader', 'admin')),
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
    CREATE TABLE procedures (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        field TEXT NOT NULL,
        name_folded TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE calendar_entries (
        day TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('holiday', 'substitute', 'workday')),
        name TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE reference_versions (
        kind TEXT PRIMARY KEY CHECK (kind IN ('catalogue', 'calendar')),
        version INTEGER NOT NULL,
        applied_at TEXT NOT NULL
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE dossiers (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        agency TEXT NOT NULL,
        procedure_code TEXT NOT NULL,
        procedure_name TEXT NOT NULL,
        field TEXT NOT NULL,
        channel TEXT NOT NULL,
        status INTEGER NOT NULL CHECK (status BETWEEN 1 AND 10),
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
    CREATE INDEX dossiers_status_due ON dossiers(status, due_at);
    CREATE INDEX dossiers_received ON dossiers(received_at);
    CREATE INDEX dossiers_handler ON dossiers(handler, status);
    CREATE INDEX dossiers_id_number ON dossiers(id_number);
    CREATE INDEX dossiers_phone ON dossiers(phone);
    CREATE INDEX dossiers_resolved ON dossiers(resolved_at);
    CREATE VIRTUAL TABLE dossiers_fts USING fts5(
        name_folded, content='dossiers', content_rowid='id', tokenize='unicode61'
    );
    CREATE TRIGGER dossiers_fts_insert AFTER INSERT ON dossiers BEGIN
        INSERT INTO dossiers_fts(rowid, name_folded) VALUES (new.id, new.name_folded);
    END;
    CREATE TRIGGER dossiers_fts_delete AFTER DELETE ON dossiers BEGIN
        INSERT INTO dossiers_fts(dossiers_fts, rowid, name_folded) VALUES ('delete', old.id, old.name_folded);
    END;
    CREATE TRIGGER dossiers_fts_update AFTER UPDATE OF name_folded ON dossiers BEGIN
        INSERT INTO dossiers_fts(dossiers_fts, rowid, name_folded) VALUES ('delete', old.id, old.name_folded);
        INSERT INTO dossiers_fts(rowid, name_folded) VALUES (new.id, new.name_folded);
    END;
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        dossier TEXT,
        at TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );
    CREATE INDEX events_dossier ON events(dossier, seq);
    CREATE TABLE access_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        username TEXT NOT NULL,
        dossier TEXT NOT NULL,
        action TEXT NOT NULL
    );
    CREATE INDEX access_log_dossier ON access_log(dossier, at);
    CREATE TABLE sync_state (
        key TEXT PRIMARY KEY,
        value TEXT
    );
    """)


@migrations(name="0002_recovery_log")
def m0002_recovery_log(db):
    db.executescript("""
    CREATE TABLE recovery_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('renamed', 'skipped', 'rebased', 'restored')),
        dossier TEXT,
        detail TEXT NOT NULL
    );
    """)


@migrations(name="0003_code_tail_index")
def m0003_code_tail_index(db):
    # "0361" (the daily sequence a citizen reads off a receipt) finds its dossiers without a scan
    db.execute("CREATE INDEX dossiers_code_tail ON dossiers(substr(code, -4))")


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


@migrations(name="0005_documents")
def m0005_documents(db):
    # Blobs live encrypted in <data>/blobs/<2 hex>/<sha256>; a row here is written in the same transaction
    # as the attachment event that names it, and only after the file is durable (node/blobs.py).
    db.executescript("""
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        pages INTEGER NOT NULL,
        stored_at TEXT NOT NULL,
        thumb TEXT
    );
    CREATE TABLE capture_links (
        token_hash TEXT PRIMARY KEY,
        dossier TEXT NOT NULL,
        username TEXT NOT NULL,
        component TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        claimed_at TEXT,
        device_hash TEXT
    );
    """)


@migrations(name="0006_blob_sync")
def m0006_blob_sync(db):
    # Which blobs still have to reach central (issue 11). ``header`` is the MCT1 header sealed to
    # central's key once (protocol/blobobject.py), so an upload resumed after a restart sends the same
    # bytes; ``acked`` is the offset central acknowledged. ``via`` says how central came to hold it.
    db.executescript("""
    CREATE TABLE blob_sync (
        hash TEXT PRIMARY KEY,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'held')),
        header BLOB,
        size INTEGER,
        acked INTEGER NOT NULL DEFAULT 0,
        queued_at TEXT NOT NULL,
        held_at TEXT,
        via TEXT CHECK (via IS NULL OR via IN ('link', 'usb', 'dedup', 'restore'))
    );
    CREATE INDEX blob_sync_state ON blob_sync(state, queued_at);
    INSERT INTO blob_sync(hash, state, queued_at) SELECT hash, 'queued', stored_at FROM blobs;
    """)
