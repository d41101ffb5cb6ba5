"""Sliding-window request budget, per endpoint, below the documented limits.

Polymarket documents sliding 10-second windows (see docs/collector.md). A
``RequestBudget`` holds one window per key (``"clob"``, ``"clob POST /books"``,
...). Before a request the client asks ``delay(keys, now)`` how long it must
wait so that no window would exceed its share, then calls ``record(keys, now)``.
Times are monotonic seconds passed in by the caller, so this module never
reads a clock and never sleeps.

One ``RequestBudget`` is shared by the poll thread and the discovery thread
(through the one ``ApiClient``); a lock makes ``delay``/``record`` safe to
call from both.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

WINDOW_SECONDS = 10.0

#: Documented limits per 10 s sliding window (requests).
DOCUMENTED_LIMITS: dict[str, int] = {
    "clob": 9000,
    "clob POST /books": 500,
    "clob GET /book": 1500,
    "gamma": 4000,
    "gamma GET /events": 500,
    # Not listed separately in the rate-limit page (2026-06-18 crawl): /events' limit is assumed.
    "gamma GET /events/keyset": 500,
}


class SlidingWindow:
    """At most *limit* events in any *window* seconds."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()

    def delay(self, now: float) -> float:
        """Seconds to wait before one more event fits."""
        self._expire(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[len(self._times) - self.limit] + self.window - now

    def record(self, now: float) -> None:
        self._expire(now)
        self._times.append(now)

    def __len__(self) -> int:
        return len(self._times)


class RequestBudget:
    """One sliding window per key; a request counts against several keys."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        fraction: float = 0.5,
        window: float = WINDOW_SECONDS,
    ) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        source = DOCUMENTED_LIMITS if limits is None else limits
        self.windows = {
            key: SlidingWindow(max(1, int(limit * fraction)), window) for key, limit in source.items()
        }
        self._lock = threading.Lock()

    def delay(self, keys: Iterable[str], now: float) -> float:
        with self._lock:
            return max((self.windows[k].delay(now) for k in keys if k in self.windows), default=0.0)

    def record(self, keys: Iterable[str], now: float) -> None:
        with self._lock:
            for key in keys:
                if key in self.windows:
                    self.windows[key].record(now)
