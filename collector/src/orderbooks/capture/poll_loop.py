"""The poll loop: discovery + books -> rows -> sink, on a drift-free schedule.

``Collector.run()`` returns an exit reason (``"duration"`` or ``"stopped"``)
and never raises for network or API trouble. Gamma discovery runs in a
background thread (``discovery_worker.DiscoveryWorker``): its first pass
happens before cycle 0 (bounded by ``STARTUP_DISCOVERY_SECONDS``), later
refreshes never delay a cycle. Each cycle polls the markets that the latest
published snapshot of the schedule says are open (or in grace, or next up),
writes one ``CycleResult`` to the sink, then hands the discovery failures
queued since to the sink. A cycle that ends after the next one's due time is
an ``overrun`` and the schedule skips ahead. ``stop_event`` ends the loop
after the current cycle (the command sets it on SIGTERM/SIGINT); the
discovery thread is then stopped and joined with a timeout.

Everything with side effects is injected: settings, the sink
(``records.SnapshotSink``), the clock, the HTTP transport (or a ready
``ApiClient``) and the wait function, so tests drive it with
``httpx.MockTransport`` + ``FakeClock`` + an in-memory sink. With
``discovery_thread=False`` (tests only) the same refresh pass runs inline in
the slack after each cycle, so such tests stay deterministic.
"""

from __future__ import annotations

import random
import threading
import traceback
from collections.abc import Callable

import httpx

from orderbooks.api.client import ApiClient
from orderbooks.api.schedule import CycleSchedule
from orderbooks.capture.books import BookFetcher
from orderbooks.clock import Clock, SystemClock
from orderbooks.config import Settings
from orderbooks.health import sdnotify
from orderbooks.health.tracker import HealthTracker
from orderbooks.logs import Logger, get_logger
from orderbooks.markets.discovery import Discovery
from orderbooks.markets.discovery_worker import JOIN_SECONDS, DiscoveryWorker
from orderbooks.markets.documents import MarketDocs
from orderbooks.records import CycleResult, FailureRecord, SnapshotSink

#: Longest the first discovery may take before polling starts (seconds).
STARTUP_DISCOVERY_SECONDS = 15.0
#: How often a progress line is logged (seconds).
PROGRESS_SECONDS = 60.0


class Collector:
    def __init__(
        self,
        settings: Settings,
        sink: SnapshotSink,
        *,
        clock: Clock | None = None,
        stop_event: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
        client: ApiClient | None = None,
        wait: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        log: Logger | None = None,
        discovery_thread: bool = True,
        health: HealthTracker | None = None,
        notify: Callable[[str], object] = sdnotify.notify,
        on_sealed: Callable[[], object] | None = None,
        market_docs: Callable[[ApiClient], MarketDocs] | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock or SystemClock()
        self.stop_event = stop_event or threading.Event()
        self.log = log or get_logger("collector")
        self.client = client or ApiClient(settings, clock=self.clock, transport=transport, rng=rng)
        self._owns_client = client is None
        self.wait = wait or self.clock.sleep
        self.discovery = Discovery(self.client, settings, self.clock)
        self.worker = DiscoveryWorker(self.discovery, self.clock)
        self.discovery_thread = discovery_thread
        #: Market documents (first seen / closed Gamma records), built on this run's client.
        self.market_docs = market_docs(self.client) if market_docs is not None else None
        if self.market_docs is not None:
            self.discovery.on_listed = self.market_docs.listed
        self.fetcher = BookFetcher(self.client, self.clock, settings.books_chunk_size)
        self.cycles = 0
        self.rows = 0
        self.failures = 0
        self._tracked: set[str] = set()
        self.health = health
        self.notify = notify
        self.on_sealed = on_sealed

    # ------------------------------------------------------------ loop

    def run(self) -> str:
        try:
            return self._run()
        finally:
            # Let a discovery request in flight end on its own timeouts, so that its
            # outcome (a failure record, if it fails) reaches the final manifest.
            timeouts = self.settings.connect_timeout + self.settings.read_timeout
            if self.market_docs is not None:
                self.market_docs.request_stop()
            self.worker.stop(max(JOIN_SECONDS, timeouts))
            if self.market_docs is not None:
                self.market_docs.stop(max(JOIN_SECONDS, timeouts))
            self._guarded(self._drain_discovery, 0.0, None)
            if self._owns_client:
                self.client.close()

    def _run(self) -> str:
        start = self.clock.monotonic()
        end = start + self.settings.duration if self.settings.duration is not None else None
        self.log.info("collector_started", settings=self.settings.to_dict())
        startup_deadline = start + STARTUP_DISCOVERY_SECONDS
        if end is not None:
            startup_deadline = min(startup_deadline, end)
        if self.market_docs is not None:
            self.market_docs.start()
        if self.discovery_thread:
            self.worker.start(first_deadline=startup_deadline)
            self.worker.wait_first_pass(startup_deadline, self.stop_event)
        else:
            self._guarded(self._refresh, startup_deadline, None)
        self._guarded(self._drain_discovery, 0.0, None)
        # Recovery ran before this object existed; the first discovery pass has
        # answered or failed (and its failures are recorded): ready.
        self.notify("READY=1")
        self.log.info("ready", known=len(self.discovery.snapshot.markets))

        schedule = CycleSchedule(self.clock.monotonic(), self.settings.interval)
        cycle = 0
        last_progress = schedule.t0
        while True:
            if self.stop_event.is_set():
                return self._stopped("stopped")
            due = schedule.due(cycle)
            if end is not None and due >= end:
                self._wait_until(end)
                return self._stopped("stopped" if self.stop_event.is_set() else "duration")
            self._wait_until(due)
            if self.stop_event.is_set():
                return self._stopped("stopped")
            next_due = schedule.due(cycle + 1)
            self.worker.cycle = cycle
            self._guarded(self._poll_cycle, next_due, cycle)
            if self.stop_event.is_set():
                return self._stopped("stopped")
            if not self.discovery_thread:
                self._guarded(self._refresh, next_due, cycle)
            self._guarded(self._drain_discovery, next_due, cycle)
            now = self.clock.monotonic()
            nxt, skipped = schedule.next_cycle(cycle, now)
            if skipped:
                late = now - next_due
                self._sink_failures(
                    [
                        self._record(
                            cycle,
                            "overrun",
                            f"cycle {cycle} ended {late:.3f}s after the next due time; "
                            f"skipped {skipped} cycle(s)",
                        )
                    ]
                )
            if now - last_progress >= PROGRESS_SECONDS:
                last_progress = now
                self.log.info(
                    "progress",
                    cycles=self.cycles,
                    rows=self.rows,
                    failures=self.failures,
                    tracked=len(self._tracked),
                    known=len(self.discovery.snapshot.markets),
                )
            cycle = nxt

    def _wait_until(self, target: float) -> None:
        while not self.stop_event.is_set():
            remaining = target - self.clock.monotonic()
            if remaining <= 0:
                return
            self.wait(remaining)

    def _stopped(self, reason: str) -> str:
        self.log.info(
            "collector_stopping", reason=reason, cycles=self.cycles, rows=self.rows, failures=self.failures
        )
        return reason

    def _guarded(self, step: Callable[[float, int | None], None], arg: float, cycle: int | None) -> None:
        """Run one step; an unexpected exception is logged, never fatal to the loop."""
        try:
            step(arg, cycle)
        except Exception as exc:
            self.log.error(
                "step_crashed",
                step=step.__name__,
                cycle=cycle,
                error=repr(exc)[:300],
                traceback=traceback.format_exc()[-2000:],
            )

    # ------------------------------------------------------------ steps

    def _poll_cycle(self, deadline: float, cycle: int | None) -> None:
        assert cycle is not None
        started_ms = self.clock.wall_ms()
        tokens = self.discovery.tracked_tokens(started_ms)
        self._log_tracking(tokens, cycle)
        outcome = self.fetcher.fetch(tokens, cycle=cycle, deadline=deadline) if tokens else None
        rows = outcome.rows if outcome else []
        failures = outcome.failures if outcome else []
        if outcome:
            for token_id in outcome.closed_tokens:
                self.discovery.mark_closed(token_id)
                self.log.info("book_closed", cycle=cycle, token_id=token_id)
        result = CycleResult(
            cycle=cycle,
            started_ms=started_ms,
            rows=rows,
            failures=failures,
            ok=not failures and len(rows) == len(tokens),
        )
        lost_before = self._rows_not_written()
        self.sink.write_cycle(result)
        self._cycle_written(result, tokens, self._rows_not_written() - lost_before)
        self.cycles += 1
        self.rows += len(rows)
        self.failures += len(failures)
        self.log.debug("cycle_done", cycle=cycle, tokens=len(tokens), rows=len(rows), failures=len(failures))

    def _rows_not_written(self) -> int:
        """The sink's count of rows it could not write in this run (0 for a sink that keeps none)."""
        count = getattr(self.sink, "run_manifest", {}).get("totals", {}).get("rows_not_written", 0)
        return count if isinstance(count, int) else 0

    def _cycle_written(self, result: CycleResult, tokens: list, rows_not_written: int = 0) -> None:
        """After the sink took the cycle (flushed, or nothing to write): health
        state, then the systemd watchdog. Only this path feeds the watchdog, so
        a hang anywhere in a cycle (HTTP read, writer) stops the pings."""
        if self.health is not None:
            try:
                self.health.cycle_written(result, tokens, self.discovery, rows_not_written=rows_not_written)
                files = getattr(self.sink, "run_manifest", {}).get("totals", {}).get("files")
                if isinstance(files, int) and self.health.sealed_files(files) and self.on_sealed:
                    self.on_sealed()
            except Exception as exc:
                self.log.warning("health_state_failed", error=repr(exc)[:300])
        self.notify("WATCHDOG=1")

    def _refresh(self, deadline: float, cycle: int | None) -> None:
        """Inline refresh pass (``discovery_thread=False`` only), in the slack before *deadline*."""
        if self.discovery.due_series(self.clock.monotonic()):
            self.worker.run_due(deadline)

    def _drain_discovery(self, _deadline: float, _cycle: int | None) -> None:
        """Hand the failures the discovery and market-documents threads queued to the sink (poll thread)."""
        self._sink_failures(self.worker.drain_failures())
        if self.market_docs is not None:
            self._sink_failures(self.market_docs.drain_failures())

    def _log_tracking(self, tokens: list, cycle: int) -> None:
        slugs = {t.market.slug for t in tokens}
        if slugs != self._tracked:
            self.log.info(
                "tracking_changed",
                cycle=cycle,
                added=sorted(slugs - self._tracked),
                removed=sorted(self._tracked - slugs),
                tokens=len(tokens),
            )
            self._tracked = slugs

    def _sink_failures(self, failures: list[FailureRecord]) -> None:
        if failures:
            self.failures += len(failures)
            self.sink.record_failures(failures)
            if self.health is not None:
                self.health.failures(failures)

    def _record(self, cycle: int | None, error: str, message: str) -> FailureRecord:
        self.log.warning(error, cycle=cycle, message=message)
        return FailureRecord.observed(self.clock.wall_ms(), cycle, error, message)
