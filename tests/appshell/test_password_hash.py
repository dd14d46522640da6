"""Password hashes: scrypt in production; one PBKDF2 round only under the documented test setting."""
from __future__ import annotations

from appshell.accounts import FAST_HASH_ENV
from tests.conftest import CLERK_PASSWORD, login


def stored_hash(node_dir, username):
    from node.cli import open_db
    _settings, conn = open_db(node_dir)
    try:
        return conn.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()[0]
    finally:
        conn.close()


def test_without_the_test_setting_new_passwords_are_hashed_with_scrypt(node_dir, clock, monkeypatch, client):
    from appshell import accounts
    from node import roles
    from node.cli import open_db
    monkeypatch.delenv(FAST_HASH_ENV)
    _settings, conn = open_db(node_dir)
    accounts.create(conn, "mai", "Mai-pass-2026", "clerk", "Phạm Thị Mai", clock.now, roles=roles.ROLES)
    conn.close()
    assert stored_hash(node_dir, "mai").startswith("scrypt:")
    assert login(client, "mai", "Mai-pass-2026").status_code == 302


def test_the_test_setting_makes_hashes_cheap_and_logins_still_check_them(node_dir, client):
    assert stored_hash(node_dir, "lan").startswith("pbkdf2:sha256:1$")  # set by tests/conftest.py
    assert login(client, "lan", CLERK_PASSWORD + "x").status_code == 401  # refused
    assert login(client, "lan", CLERK_PASSWORD).status_code == 302
