"""Time as an injected dependency, so tests never sleep.

``SystemClock`` is the real one. Tests use ``FakeClock`` from
``tests/support``-side code or their own object with the same four methods.
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


class FakeClock:
    """A manual clock: ``sleep`` advances time instantly and records the call."""

    def __init__(self, wall_ms: int = 1_700_000_000_000, monotonic: float = 1000.0) -> None:
        self._wall_ms = wall_ms
        self._mono = monotonic
        self.sleeps: list[float] = []

    def wall_ms(self) -> int:
        return self._wall_ms

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall_ms += round(seconds * 1000)
