"""A manual clock for tests: the ``orderbooks.clock.Clock`` protocol, where
``sleep`` advances time at once and records the call, so tests never sleep."""

from __future__ import annotations


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
