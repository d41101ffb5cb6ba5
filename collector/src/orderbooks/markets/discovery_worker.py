"""Gamma discovery off the poll path: a background thread that refreshes the schedule.

``DiscoveryWorker`` runs ``Discovery.refresh_due`` in its own thread
(``start()``), so a refresh never delays a poll cycle. Each refresh publishes a
new immutable ``MarketSnapshot`` (``Discovery.snapshot``, one reference
assignment); the poll thread reads the latest one every cycle and applies the
rollover rules to it. Failures of a refresh (``discovery``, ``schema_drift``
and the request failures behind them) go into a queue that the poll thread
empties with ``drain_failures()`` and hands to the sink, which is not
thread-safe.

``run_due()`` is one refresh pass in the caller's thread: the thread loop calls
it, and unit tests call it directly with a ``FakeClock`` to stay sleep-free.
"""

from __future__ import annotations

import threading
import traceback

from orderbooks.clock import Clock
from orderbooks.logs import Logger, get_logger
from orderbooks.markets.discovery import Discovery, MarketSnapshot
from orderbooks.records import QueuedFailures

#: Time one refresh pass may take (seconds): bounds its requests, retries and backoff.
PASS_SECONDS = 15.0
#: Longest idle wait between two checks for due series (seconds).
MAX_IDLE_SECONDS = 1.0
#: Wait after a pass that crashed, so a bug cannot spin (seconds).
CRASH_PAUSE_SECONDS = 10.0
#: How long ``stop()`` waits for the thread by default (seconds).
JOIN_SECONDS = 2.0


class DiscoveryWorker(QueuedFailures):
    def __init__(
        self,
        discovery: Discovery,
        clock: Clock,
        *,
        pass_seconds: float = PASS_SECONDS,
        log: Logger | None = None,
    ) -> None:
        super().__init__()
        self.discovery = discovery
        self.clock = clock
        self.pass_seconds = pass_seconds
        self.log = log or get_logger("discovery")
        #: The latest cycle the poll thread started; stamped on failure records.
        self.cycle: int | None = None
        self.first_pass_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_deadline: float | None = None

    @property
    def snapshot(self) -> MarketSnapshot:
        return self.discovery.snapshot

    # ------------------------------------------------------------ one pass

    def run_due(self, deadline: float | None = None) -> int:
        """Refresh every due series in the caller's thread; queue the failures, return their count."""
        if deadline is None:
            deadline = self.clock.monotonic() + self.pass_seconds
        try:
            failures = self.discovery.refresh_due(deadline, self.cycle)
            for failure in failures:
                self._failures.put(failure)
            return len(failures)
        finally:
            self.first_pass_done.set()

    # ------------------------------------------------------------ thread

    def start(self, first_deadline: float | None = None) -> None:
        """Start the thread; its first pass refreshes every series, bounded by *first_deadline*."""
        if self._thread is not None:
            raise RuntimeError("the discovery worker is already started")
        self._first_deadline = first_deadline
        self._thread = threading.Thread(target=self._loop, name="discovery", daemon=True)
        self._thread.start()

    def wait_first_pass(self, deadline: float, stop: threading.Event | None = None) -> bool:
        """Block until the first pass is over, *deadline* (monotonic) passes, or *stop* is set."""
        while not self.first_pass_done.is_set():
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                break
            self.first_pass_done.wait(min(remaining, 0.05))
        return self.first_pass_done.is_set()

    def stop(self, timeout: float = JOIN_SECONDS) -> bool:
        """Ask the thread to end and join it; False if it is still busy after *timeout*.

        A request in flight is not interrupted; the thread is a daemon, so it
        never keeps the process alive.
        """
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        if alive:
            self.log.warning("discovery_thread_busy_at_stop", timeout=timeout)
        return not alive

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            pause = 0.0
            try:
                if first or self.discovery.due_series(self.clock.monotonic()):
                    deadline = self._first_deadline if first and self._first_deadline is not None else None
                    self.run_due(deadline)
            except Exception as exc:
                pause = CRASH_PAUSE_SECONDS
                if not self._stop.is_set():
                    self.log.error(
                        "step_crashed",
                        step="discovery",
                        error=repr(exc)[:300],
                        traceback=traceback.format_exc()[-2000:],
                    )
            first = False
            self._stop.wait(max(pause, self._idle_seconds()))

    def _idle_seconds(self) -> float:
        """Until the next series is due, at most ``MAX_IDLE_SECONDS``."""
        now = self.clock.monotonic()
        soonest = min(self.discovery.next_refresh.values(), default=now + MAX_IDLE_SECONDS)
        return min(max(0.0, soonest - now), MAX_IDLE_SECONDS)
