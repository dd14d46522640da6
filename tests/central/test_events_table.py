"""Migration 0007 turns central's events table into a rowid table on SQLite: every stored event
stays byte for byte, (node, seq) stays the primary key, and a dossier's history is still found
through its index."""
from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from appshell.sqlite import connect
from central.store import dossiers
from migrations.central import migrations

NODE = "000.00.06.H56"
INSERT = "INSERT INTO events(node, seq, id, hash, body, batch_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"


def test_migration_0007_keeps_every_stored_event_byte_for_byte_with_the_same_primary_key(tmp_path):
    conn = connect(tmp_path / "central.db")
    migrations.apply(Database(conn), stop_before="0007_events_rowid_table")
    assert "WITHOUT ROWID" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    conn.execute("INSERT INTO nodes(id, name, status, created_at) VALUES (?, 'UBND xã Hòa Bình', 'active', "
                 "'2026-01-05T08:00:00')", (NODE,))
    batch = conn.execute("INSERT INTO batches(node, signature, body, first_seq, last_seq, received_at, source) "
                         "VALUES (?, 'sig', x'1f8b', 1, 40, '2026-01-05T08:00:00', 'push')", (NODE,)).lastrowid
    rows = []
    for seq in range(40, 0, -1):  # stored out of order; one body in three over a page's inline limit
        note = "ễ" * (1500 if seq % 3 == 0 else seq)
        body = f'{{"dossier":"{NODE}-260105-{seq % 7 + 1:04d}","note":"Nguyễn Văn Dũng {note}"}}'
        rows.append((NODE, seq, f"id{seq}", f"{seq:064x}", body, batch, "2026-01-05T08:00:00"))
    conn.executemany(INSERT, rows)
    before = [tuple(r) for r in conn.execute("SELECT *, typeof(body) FROM events ORDER BY node, seq")]

    migrations.apply(Database(conn))
    assert "WITHOUT ROWID" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    assert [tuple(r) for r in conn.execute("SELECT *, typeof(body) FROM events ORDER BY node, seq")] == before
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(INSERT, rows[0])
    assert "USING INDEX sqlite_autoindex_events_1 (node=? AND seq>?)" in " ".join(
        r[3] for r in conn.execute("EXPLAIN QUERY PLAN SELECT body FROM events WHERE node = ? AND seq > ? ORDER BY seq "
                                   "LIMIT ?", (NODE, 0, 10)))
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + dossiers.HISTORY_SQL, (f"{NODE}-260105-0001",)))
    assert "USING INDEX events_dossier" in plan
    history = conn.execute(dossiers.HISTORY_SQL, (f"{NODE}-260105-0001",)).fetchall()
    assert [r["seq"] for r in history] == [seq for seq in range(1, 41) if seq % 7 == 0]
    conn.close()


def test_a_pushed_event_is_stored_as_text_byte_for_byte(central_backend, central, conn, node):
    if central_backend != "sqlite":
        pytest.skip("SQLite binds the body as UTF-8 bytes cast to TEXT; PostgreSQL gets a str")
    from protocol.canonical import canonical_json
    code = node.receive()
    node.append("dossier.note", code, {"text": "Nguyễn Văn Dũng 😀 \u2028 \x01"})
    assert node.push(central).status_code == 200
    rows = conn.execute("SELECT body, typeof(body) AS type, length(body) AS chars FROM events ORDER BY seq").fetchall()
    assert [r["type"] for r in rows] == ["text", "text"]
    assert [r["body"].encode("utf-8") for r in rows] == [canonical_json(e) for e in node.events]
    assert [r["chars"] for r in rows] == [len(canonical_json(e).decode("utf-8")) for e in node.events]
    assert conn.execute("SELECT count(*) FROM events WHERE json_extract(body, '$.dossier') = ?",
                        (code,)).fetchone()[0] == 2
