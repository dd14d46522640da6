"""Account queries the pages need beyond ``central.users`` (which creates and checks accounts):
who can be assigned a handed-up dossier, and how many live API tokens each account holds."""
from __future__ import annotations


def admins(conn) -> list[dict]:
    """Active admins, by username: only admins can decide a handed-up dossier, so only they are assigned."""
    return [dict(r) for r in conn.execute("SELECT username, full_name FROM users WHERE active = 1 AND role = 'admin' "
                                          "ORDER BY username")]


def open_token_counts(conn) -> dict[int, int]:
    """user id -> number of API tokens not revoked."""
    return {r["user_id"]: r["n"] for r in conn.execute(
        "SELECT user_id, COUNT(*) AS n FROM api_tokens WHERE revoked = 0 GROUP BY user_id")}
