"""Staff accounts, login throttling and API tokens (each server passes its own roles)."""
from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from .sqlite import write_tx

MIN_PASSWORD = 10

# TEST SETTING, NEVER FOR PRODUCTION: with MOTCUA_TEST_FAST_PASSWORD_HASH=1 in the environment, new
# password hashes are one round of PBKDF2 instead of Werkzeug's default scrypt, so the test suite does
# not spend minutes hashing the three accounts each test creates. Such hashes can be brute-forced in
# moments; tests/conftest.py sets it for the test processes only (docs/OPERATIONS.md says the same).
FAST_HASH_ENV = "MOTCUA_TEST_FAST_PASSWORD_HASH"


def _hash(password: str) -> str:
    if os.environ.get(FAST_HASH_ENV) == "1":
        return generate_password_hash(password, method="pbkdf2:sha256:1")
    return generate_password_hash(password)


# Compared against when the username is unknown so both paths cost the same.
_DUMMY_HASH = _hash("motcua-dummy-password")


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    full_name: str
    role: str
    active: bool

    def can(self, *roles: str) -> bool:
        return self.role in roles or self.role == "admin"


def _user(row) -> User:
    return User(row["id"], row["username"], row["full_name"], row["role"], bool(row["active"]))


def password_problem(password: str) -> str | None:
    if len(password or "") < MIN_PASSWORD:
        return f"password must be at least {MIN_PASSWORD} characters"
    if password.isdigit() or password.isalpha():
        return "password must mix letters with digits or symbols"
    return None


def create(conn: sqlite3.Connection, username: str, password: str, role: str, full_name: str,
           now: datetime, *, roles: dict[str, str]) -> User:
    username = (username or "").strip().lower()
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise UserError("username must be letters, digits, dots, dashes or underscores")
    if role not in roles:
        raise UserError(f"role must be one of {', '.join(roles)}")
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    with write_tx(conn):
        if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise UserError(f"user {username!r} already exists")
        conn.execute("INSERT INTO users(username, full_name, role, password_hash, created_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (username, full_name.strip(), role, _hash(password), now.isoformat()))
    return by_name(conn, username)


def by_id(conn, user_id: int) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def by_name(conn, username: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE username = ?", ((username or "").strip().lower(),)).fetchone()
    return _user(row) if row else None


def all_users(conn) -> list[User]:
    return [_user(r) for r in conn.execute("SELECT * FROM users ORDER BY username")]


def set_active(conn, user_id: int, active: bool) -> None:
    with write_tx(conn):
        conn.execute("UPDATE users SET active = ?, failed_logins = 0, locked_until = NULL WHERE id = ?",
                     (int(active), user_id))


class LoginLocked(Exception):
    pass


def authenticate(conn, username: str, password: str, now: datetime, max_failures: int,
                 lock_minutes: int) -> User | None:
    """Return the user, None for wrong credentials; raise LoginLocked while the account is locked."""
    row = conn.execute("SELECT * FROM users WHERE username = ?", ((username or "").strip().lower(),)).fetchone()
    if row is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if row["locked_until"] and row["locked_until"] > now.isoformat():
        raise LoginLocked()
    ok = check_password_hash(row["password_hash"], password or "")
    with write_tx(conn):
        if ok and row["active"]:
            conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (row["id"],))
            return _user(row)
        failures = row["failed_logins"] + 1
        locked = (now + timedelta(minutes=lock_minutes)).isoformat() if failures >= max_failures else None
        conn.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                     (0 if locked else failures, locked, row["id"]))
    if locked:
        raise LoginLocked()
    return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn, user: User, label: str, now: datetime, *, prefix: str) -> str:
    token = prefix + secrets.token_urlsafe(32)
    with write_tx(conn):
        conn.execute("INSERT INTO api_tokens(user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
                     (user.id, _token_hash(token), label, now.isoformat()))
    return token


def user_for_token(conn, token: str) -> User | None:
    row = conn.execute(
        "SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id "
        "WHERE token_hash = ? AND revoked = 0 AND users.active = 1", (_token_hash(token or ""),)).fetchone()
    return _user(row) if row else None
