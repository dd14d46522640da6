"""Central's account roles and its API token prefix (the account mechanics live in appshell.accounts)."""
from __future__ import annotations

ROLES = {"admin": "Quản trị", "viewer": "Theo dõi"}
TOKEN_PREFIX = "mcc_"
