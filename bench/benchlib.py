"""Small helpers the benchmark scripts share (each script runs as `python bench/NAME.py`)."""
from __future__ import annotations

import os
import socket
from datetime import date, timedelta
from pathlib import Path


def log(msg: str = "") -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux only; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def working_days_until(calendar, last: date, count: int) -> list[date]:
    """The ``count`` working days ending on or before ``last``, oldest first."""
    days, d = [], last
    while len(days) < count:
        if calendar.is_working_day(d):
            days.append(d)
        d -= timedelta(days=1)
    return days[::-1]
