"""Timing policy: the drift-free cycle schedule and the retry backoff.

Everything here is pure: it takes times and states and returns numbers or
bools, so tests call it directly without sleeping.

* ``CycleSchedule``: cycle k is due at ``t0 + k * interval`` on the monotonic
  clock. A cycle that ends after the next one's due time is an overrun: the
  schedule skips to the first slot still in the future instead of bunching.
* ``wait_backoff``: tenacity wait strategy, exponential backoff with full
  jitter, raised to the server's ``Retry-After`` when one was given.
* ``stop_before_deadline``: tenacity stop strategy, stops when the next
  attempt could not finish before the cycle's deadline.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState
from tenacity.stop import stop_base
from tenacity.wait import wait_base


@dataclass(frozen=True)
class CycleSchedule:
    t0: float  # monotonic seconds of cycle 0
    interval: float

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"interval must be > 0, got {self.interval!r}")

    def due(self, cycle: int) -> float:
        return self.t0 + cycle * self.interval

    def next_cycle(self, cycle: int, now: float) -> tuple[int, int]:
        """After *cycle* finished at *now*: (next cycle number, cycles skipped).

        The next cycle is ``cycle + 1`` unless its slot already passed; then it is
        the first cycle whose due time is at or after *now*.
        """
        nxt = cycle + 1
        if now <= self.due(nxt):
            return nxt, 0
        first_future = math.ceil((now - self.t0) / self.interval - 1e-9)
        first_future = max(first_future, nxt)
        return first_future, first_future - nxt


def retry_after_seconds(value: str | None, now_epoch_s: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or HTTP date); None if absent or unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or now_epoch_s is None:
            return None
        seconds = when.timestamp() - now_epoch_s
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


class wait_backoff(wait_base):
    """Exponential backoff with full jitter; at least the server's Retry-After.

    Attempt n (1-based) waits ``uniform(0, min(cap, base * 2**(n-1)))``, and never
    less than ``retry_after(retry_state)`` when that returns a number.
    """

    def __init__(
        self,
        base: float = 0.1,
        cap: float = 2.0,
        retry_after: Callable[[RetryCallState], float | None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or cap <= 0:
            raise ValueError("base and cap must be > 0")
        self.base = base
        self.cap = cap
        self.retry_after = retry_after
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto

    def __call__(self, retry_state: RetryCallState) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, retry_state.attempt_number - 1))
        wait = self.rng.uniform(0, ceiling)
        if self.retry_after is not None:
            hinted = self.retry_after(retry_state)
            if hinted is not None:
                wait = max(wait, hinted)
        return wait


class stop_before_deadline(stop_base):
    """Stop when ``now + upcoming sleep + min_attempt`` would pass *deadline*.

    *now* is a monotonic clock function; *deadline* a monotonic time. A retry
    never pushes a cycle past the next cycle's due time.
    """

    def __init__(self, now: Callable[[], float], deadline: float, min_attempt: float = 0.05) -> None:
        self.now = now
        self.deadline = deadline
        self.min_attempt = min_attempt

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.now() + retry_state.upcoming_sleep + self.min_attempt > self.deadline
