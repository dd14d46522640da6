"""The streaming replica central reads dashboards, searches, reports and exports from (setting
``read_database``): how far behind the primary it is, for the overview to show."""
from __future__ import annotations

from . import dialect


def lag(conn) -> dict | None:
    """{"standby": bool, "seconds": int | None, "caught_up": bool} for a PostgreSQL connection; None on SQLite.

    ``seconds``: how long ago the last transaction the standby replayed was committed on the primary
    (0 when it has replayed everything it received: an idle primary is not a lagging standby).
    """
    if dialect.of(conn) is not dialect.POSTGRES:
        return None
    row = conn.execute(
        "SELECT pg_is_in_recovery() AS standby, "
        "COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false) AS caught_up, "
        "floor(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()))::bigint AS seconds").fetchone()
    if not row["standby"]:
        return {"standby": False, "seconds": None, "caught_up": True}
    seconds = 0 if row["caught_up"] else row["seconds"]
    return {"standby": True, "seconds": seconds, "caught_up": bool(row["caught_up"])}
