"""The node's staff roles and its API token prefix (the account mechanics live in appshell.accounts)."""
from __future__ import annotations

ROLES = {"clerk": "Cán bộ một cửa", "leader": "Lãnh đạo / cán bộ xử lý", "admin": "Quản trị"}
TOKEN_PREFIX = "mc_"
