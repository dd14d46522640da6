"""The node's staff accounts: clerks, leaders and admins (the mechanics live in service.accounts)."""
from __future__ import annotations

from datetime import datetime

from service.accounts import (MIN_PASSWORD, LoginLocked, User, UserError, all_users, authenticate,  # noqa: F401
                              by_id, by_name, password_problem, reset_password, set_active, user_for_token)
from service import accounts

ROLES = {"clerk": "Cán bộ một cửa", "leader": "Lãnh đạo / cán bộ xử lý", "admin": "Quản trị"}
TOKEN_PREFIX = "mc_"


def create(conn, username: str, password: str, role: str, full_name: str, now: datetime) -> User:
    return accounts.create(conn, username, password, role, full_name, now, roles=ROLES)


def create_token(conn, user: User, label: str, now: datetime) -> str:
    return accounts.create_token(conn, user, label, now, prefix=TOKEN_PREFIX)
