"""In-process sliding-window limiter (each server is one process; waitress threads share it).

Only check-and-count in one step (``try_acquire``), so parallel requests cannot all pass a check before
any of them is counted; ``release`` gives back an attempt that turned out not to count.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class SlidingWindow:
    def __init__(self, limit: int, seconds: float, clock=time.monotonic):
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque:
        hits = self._hits[key]
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        return hits

    def try_acquire(self, key: str) -> bool:
        """Check and count in one step: False when the key is at its limit, else record one attempt."""
        with self._lock:
            now = self.clock()
            hits = self._trim(key, now)
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:  # bound memory under a flood of distinct keys
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return True

    def release(self, key: str) -> None:
        """Give back the newest attempt of ``key`` (an attempt that turned out not to count)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()
