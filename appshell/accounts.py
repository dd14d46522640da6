"""Staff accounts, login throttling and API tokens (each server passes its own roles)."""
from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    must_change_password: bool = False

    def can(self, *roles: str) -> bool:
        return self.role in roles or self.role == "admin"


def _user(row) -> User:
    return User(row["id"], row["username"], row["full_name"], row["role"], bool(row["active"]),
                bool(row["must_change_password"]))


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
    """Enable or disable an account; disabling ends every session it has, at once."""
    with write_tx(conn):
        conn.execute("UPDATE users SET active = ?, failed_logins = 0, locked_until = NULL WHERE id = ?",
                     (int(active), user_id))
        if not active:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


class LoginLocked(Exception):
    pass


def authenticate(conn, username: str, password: str, now: datetime, max_failures: int,
                 lock_minutes: int) -> User | None:
    """Return the user, None for wrong credentials; raise LoginLocked while the account is locked.

    Check-and-count is one step: a conditional UPDATE reserves an attempt before the hash is
    evaluated, so however many requests race, at most ``max_failures`` passwords are checked
    before the lock; the reservation that reaches the limit sets the lock itself.
    """
    row = conn.execute("SELECT * FROM users WHERE username = ?", ((username or "").strip().lower(),)).fetchone()
    if row is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    stamp = now.isoformat()
    until = (now + timedelta(minutes=lock_minutes)).isoformat()
    with write_tx(conn):
        reserved = conn.execute(
            "UPDATE users SET "
            " failed_logins = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END,"
            " locked_until = CASE WHEN (CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END) >= :max"
            "                THEN :until END "
            "WHERE id = :id AND (CASE WHEN locked_until IS NOT NULL THEN locked_until <= :now"
            "                         ELSE failed_logins < :max END)",
            {"id": row["id"], "now": stamp, "until": until, "max": max_failures}).rowcount
    if not reserved:
        raise LoginLocked()
    ok = check_password_hash(row["password_hash"], password or "")
    if ok and row["active"]:
        with write_tx(conn):
            conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (row["id"],))
        return by_id(conn, row["id"])
    locked = conn.execute("SELECT locked_until FROM users WHERE id = ?", (row["id"],)).fetchone()[0]
    if locked and locked > stamp:
        raise LoginLocked()
    return None


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(("session:" + session_id).encode()).hexdigest()


def _utc_now() -> datetime:
    # Sessions last real hours (as the signed cookie's own max-age does), whatever the app's clock says.
    return datetime.now(UTC)


def start_session(conn, user_id: int, lifetime: timedelta) -> str:
    """A new server-side session for the user; the returned id goes into the signed cookie."""
    session_id = secrets.token_urlsafe(32)
    now = _utc_now()
    with write_tx(conn):
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now.isoformat(),))
        conn.execute("INSERT INTO sessions(id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                     (_session_hash(session_id), user_id, now.isoformat(), (now + lifetime).isoformat()))
    return session_id


def user_for_session(conn, session_id: str | None) -> User | None:
    """The active account a live session belongs to; None once it ended (logout, password, disabled)."""
    if not session_id:
        return None
    row = conn.execute(
        "SELECT users.* FROM sessions JOIN users ON users.id = sessions.user_id "
        "WHERE sessions.id_hash = ? AND sessions.expires_at > ? AND users.active = 1",
        (_session_hash(session_id), _utc_now().isoformat())).fetchone()
    return _user(row) if row else None


def end_session(conn, session_id: str | None) -> None:
    if session_id:
        with write_tx(conn):
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (_session_hash(session_id),))


def _set_password(conn, user_id: int, password: str, must_change: bool) -> None:
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    password_hash = generate_password_hash(password)
    with write_tx(conn):
        changed = conn.execute(
            "UPDATE users SET password_hash = ?, must_change_password = ?, failed_logins = 0, "
            "locked_until = NULL WHERE id = ?", (password_hash, int(must_change), user_id)).rowcount
        if changed != 1:
            raise UserError("no such user")
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


def change_password(conn, user_id: int, current: str, new: str) -> None:
    """The user's own change: the current password must be right; every session of the user ends."""
    row = conn.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None or not check_password_hash(row["password_hash"], current or ""):
        raise UserError("current password is wrong")
    if current == new:
        raise UserError("new password must differ from the current one")
    _set_password(conn, user_id, new, must_change=False)


def reset_password(conn, user_id: int, temporary: str) -> None:
    """An admin's reset: the user's sessions end and the next login must choose a new password."""
    _set_password(conn, user_id, temporary, must_change=True)


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
