"""Time as an injected dependency, so tests never sleep.

``SystemClock`` is the real one. Tests use ``testkit.fake_clock.FakeClock``
(a manual clock in the dev tooling) or their own object with the same methods.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall_ms(self) -> int:
        """UTC epoch milliseconds (for timestamps in data)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for schedules and durations)."""

    def sleep(self, seconds: float) -> None:
        """Block for *seconds* (may return early if the clock is woken)."""


class SystemClock:
    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
