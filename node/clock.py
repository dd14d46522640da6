"""The node's notion of now: Vietnam local time (UTC+7, no daylight saving), naive.

``local_now`` is this PC's clock. ``legal_time`` is the time a receipt may carry: the PC's
clock corrected by central's, once a signed reply from central has shown that the PC is off by
more than ``clock_warning_minutes`` (node/sync.py records that correction in sync_state). A node
that has never synced has nothing to correct with and uses the PC clock (the status bar says so).
Every web request runs on the legal time (``g.now``, set in node/app.py; ``g.pc_now`` keeps the PC's):
codes, received_at, due times, the "today" and overdue lists. node/store.py corrects from the PC's time
inside its transaction, once, and each corrected event records both the PC's time and the corrected one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.clock import local_now  # the one definition of now

CORRECTION_KEY = "clock_correction_seconds"


@dataclass(frozen=True)
class LegalTime:
    now: datetime                 # the time to put on receipts and events
    pc: datetime                  # what this PC's clock said
    offset_seconds: int | None    # central minus PC, when a correction applies

    @property
    def corrected(self) -> bool:
        return self.offset_seconds is not None

    def record(self) -> dict:
        """What an event carries about the correction: both times and the offset."""
        return {"pc_at": self.pc.replace(microsecond=0).isoformat(), "legal_at": self.now.isoformat(),
                "offset_seconds": self.offset_seconds, "source": "central"}


def correction_seconds(conn) -> int | None:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (CORRECTION_KEY,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def legal_time(conn, pc_now: datetime | None = None) -> LegalTime:
    pc = pc_now or local_now()
    offset = correction_seconds(conn)
    if not offset:
        return LegalTime(pc, pc, None)
    return LegalTime((pc + timedelta(seconds=offset)).replace(microsecond=0), pc, offset)
