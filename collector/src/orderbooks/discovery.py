"""Choose the markets to poll: current windows, grace after the end, next upcoming.

``Discovery`` keeps the known schedule (markets are pre-listed about 24 h
ahead), refreshed from Gamma per series every ``discovery_interval`` seconds.
``select(now_ms)`` is evaluated every cycle from that schedule, so a window
that starts at T is polled from the first cycle at or after T without waiting
for a refresh (rollover on time). A failed refresh is recorded as a
``discovery`` failure and the known set keeps being polled.

Two threads share one ``Discovery`` (see ``discovery_worker.py``):

- the refresh side (``refresh_due``, ``refresh_series``, ``prune``; the
  attributes ``known``, ``next_refresh``) runs in the discovery thread and
  owns the mutable schedule. After every change it publishes a new immutable
  ``MarketSnapshot`` by one reference assignment to ``snapshot``;
- the poll side (``select``, ``tracked_tokens``, ``mark_closed``) runs in the
  poll thread. It reads ``snapshot`` once per call and keeps its own set of
  tokens whose book answered 404.

``snapshot`` is the only attribute both threads touch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orderbooks.client import ApiClient
from orderbooks.clock import Clock
from orderbooks.config import Settings
from orderbooks.gamma import Market, parse_events, parse_iso_ms
from orderbooks.logs import Logger, get_logger
from orderbooks.records import FailureRecord

PAGE_SIZE = 100
MAX_PAGES = 10
#: Page on until the listing reaches this far past now (seconds), so the schedule
#: survives some failed refreshes.
HORIZON_SECONDS = 900
#: After a failed refresh of a series, try again after RETRY_FIRST_SECONDS,
#: doubling with each further failure up to RETRY_SECONDS (and never later than
#: the normal refresh interval), so the schedule is back soon after an outage.
RETRY_FIRST_SECONDS = 1.0
RETRY_SECONDS = 8.0


def retry_seconds(failed_in_a_row: int, interval: float) -> float:
    """Wait before the next refresh of a series that failed *failed_in_a_row* times in a row."""
    backoff = RETRY_FIRST_SECONDS * 2 ** max(0, min(failed_in_a_row - 1, 16))
    return min(backoff, RETRY_SECONDS, interval)


@dataclass(frozen=True)
class TrackedToken:
    market: Market
    token_id: str
    outcome: str


@dataclass(frozen=True)
class MarketSnapshot:
    """The known schedule at one moment, never mutated: the poll thread's view."""

    #: Every known market, sorted by (start_ms, series, slug).
    markets: tuple[Market, ...] = ()
    #: Tokens of ended markets that Gamma lists as ``closed``.
    closed_tokens: frozenset[str] = frozenset()
    #: Every token id of ``markets``.
    token_ids: frozenset[str] = frozenset()
    #: 0 before the first publication, then 1, 2, ...
    version: int = 0

    @classmethod
    def build(cls, markets: Iterable[Market], closed_tokens: Iterable[str], version: int) -> MarketSnapshot:
        ordered = tuple(sorted(markets, key=lambda m: (m.start_ms, m.series, m.slug)))
        token_ids = frozenset(token for market in ordered for token, _ in market.tokens)
        return cls(ordered, frozenset(closed_tokens) & token_ids, token_ids, version)


class Discovery:
    def __init__(
        self, client: ApiClient, settings: Settings, clock: Clock, log: Logger | None = None
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.log = log or get_logger("discovery")
        # Refresh side (discovery thread).
        self.known: dict[str, Market] = {}  # condition_id -> Market
        self.next_refresh: dict[str, float] = dict.fromkeys(settings.series, 0.0)
        self.failed_in_a_row: dict[str, int] = dict.fromkeys(settings.series, 0)
        self.last_ok_ms: dict[str, int] = {}  # series -> wall ms of its last successful refresh
        self._gamma_closed: set[str] = set()
        self._logged_skips: set[tuple[str, str]] = set()
        # Shared: replaced whole, never mutated.
        self.snapshot = MarketSnapshot()
        # Poll side (poll thread).
        self._book_closed: set[str] = set()
        self._book_closed_version = 0

    # ------------------------------------------------------------ refresh

    def due_series(self, now_mono: float) -> list[str]:
        return [s for s in self.settings.series if self.next_refresh.get(s, 0.0) <= now_mono]

    def refresh_due(self, deadline: float, cycle: int | None = None) -> list[FailureRecord]:
        """Refresh every series whose refresh is due, while time remains before *deadline*."""
        failures: list[FailureRecord] = []
        for series_id in self.due_series(self.clock.monotonic()):
            if self.clock.monotonic() >= deadline:
                break
            failures.extend(self.refresh_series(series_id, deadline, cycle))
        return failures

    def refresh_series(
        self, series_id: str, deadline: float, cycle: int | None = None
    ) -> list[FailureRecord]:
        """Page through ``GET /events`` for one series and merge what it returns."""
        now_ms = self.clock.wall_ms()
        failures: list[FailureRecord] = []
        found: list[Market] = []
        other = 0
        for page in range(MAX_PAGES):
            params = {
                "series_id": series_id,
                "closed": "false",
                "order": "endDate",
                "ascending": "true",
                "limit": PAGE_SIZE,
                "offset": page * PAGE_SIZE,
            }
            result = self.client.get_json(
                "gamma", "/events", params=params, deadline=deadline, cycle=cycle, series=series_id
            )
            failures.extend(result.failures)
            if not result.ok:
                return failures + self._failed(
                    series_id, cycle, f"GET /events failed: {result.error}: {result.message}", result.status
                )
            try:
                markets, skipped = parse_events(result.data, series_id)
            except ValueError as exc:
                drift = self._record(cycle, "schema_drift", str(exc), series_id, "GET /events")
                return [*failures, drift, *self._failed(series_id, cycle, f"unusable /events answer: {exc}")]
            found.extend(markets)
            for skip in skipped:
                if skip.reason in ("not in the requested series", "not a BTC up/down event"):
                    other += 1
                elif skip.drift:
                    failures.append(
                        self._record(
                            cycle,
                            "schema_drift",
                            f"{skip.slug}: {skip.reason}",
                            series_id,
                            "GET /events",
                            status=result.status,
                        )
                    )
                    self.log.warning(
                        "market_schema_drift", series=series_id, slug=skip.slug, reason=skip.reason
                    )
                elif (skip.slug, skip.reason) not in self._logged_skips:
                    self._logged_skips.add((skip.slug, skip.reason))
                    self.log.warning("market_skipped", series=series_id, slug=skip.slug, reason=skip.reason)
            if len(result.data) < PAGE_SIZE or self._beyond_horizon(result.data, now_ms):
                break
        self._merge(series_id, found, now_ms)
        self.next_refresh[series_id] = self.clock.monotonic() + self.settings.discovery_interval
        self.failed_in_a_row[series_id] = 0
        self.last_ok_ms[series_id] = self.clock.wall_ms()
        if len(self._logged_skips) > 10_000:
            self._logged_skips.clear()
        self.log.info(
            "discovery_refreshed",
            series=series_id,
            markets=len(found),
            ignored_events=other,
            known=len(self.known),
        )
        return failures

    @staticmethod
    def _beyond_horizon(events: list, now_ms: int) -> bool:
        last = events[-1] if events else None
        if not isinstance(last, dict):
            return False
        end = last.get("endDate")
        markets = last.get("markets")
        if end is None and isinstance(markets, list) and markets and isinstance(markets[0], dict):
            end = markets[0].get("endDate")
        try:
            return parse_iso_ms(end) > now_ms + HORIZON_SECONDS * 1000
        except ValueError:
            return False

    def _merge(self, series_id: str, found: list[Market], now_ms: int) -> None:
        self._expire(now_ms)
        listed = {m.condition_id for m in found}
        for cid, market in list(self.known.items()):
            # A market of this series that has ended and is no longer listed as open is closed.
            if market.series == series_id and cid not in listed and market.end_ms <= now_ms:
                self._forget(cid)
        for market in found:
            self.known[market.condition_id] = market
            if market.closed and market.end_ms <= now_ms:
                self._gamma_closed.update(token for token, _ in market.tokens)
        self._publish()

    def _publish(self) -> None:
        self.snapshot = MarketSnapshot.build(
            self.known.values(), self._gamma_closed, self.snapshot.version + 1
        )

    def _failed(self, series_id: str, cycle: int | None, message: str, status: int | None = None) -> list:
        failed = self.failed_in_a_row.get(series_id, 0) + 1
        self.failed_in_a_row[series_id] = failed
        retry_in = retry_seconds(failed, self.settings.discovery_interval)
        self.next_refresh[series_id] = self.clock.monotonic() + retry_in
        self.log.warning(
            "discovery_failed", series=series_id, message=message, known=len(self.known), retry_in=retry_in
        )
        return [self._record(cycle, "discovery", message, series_id, "GET /events", status=status)]

    def _record(
        self,
        cycle: int | None,
        error: str,
        message: str,
        series_id: str,
        endpoint: str,
        *,
        status: int | None = None,
    ) -> FailureRecord:
        return FailureRecord.observed(
            self.clock.wall_ms(), cycle, error, message, series=series_id, status=status, endpoint=endpoint
        )

    def prune(self, now_ms: int) -> None:
        """Refresh side: forget markets whose grace period is over and publish the result."""
        if self._expire(now_ms):
            self._publish()

    def _expire(self, now_ms: int) -> bool:
        grace_ms = round(self.settings.grace_seconds * 1000)
        expired = [cid for cid, m in self.known.items() if m.end_ms + grace_ms <= now_ms]
        for cid in expired:
            self._forget(cid)
        return bool(expired)

    def _forget(self, condition_id: str) -> None:
        market = self.known.pop(condition_id, None)
        if market is not None:
            self._gamma_closed.difference_update(token for token, _ in market.tokens)

    # ------------------------------------------------------------ selection (poll side)

    def select(self, now_ms: int) -> list[Market]:
        """Markets to poll now: open windows (+ grace), then the next N upcoming per series."""
        return self._select(self._current(), now_ms)

    def tracked_tokens(self, now_ms: int) -> list[TrackedToken]:
        snapshot = self._current()
        closed = snapshot.closed_tokens
        return [
            TrackedToken(market, token, outcome)
            for market in self._select(snapshot, now_ms)
            for token, outcome in market.tokens
            if token not in closed and token not in self._book_closed
        ]

    def mark_closed(self, token_id: str) -> None:
        """The book answered 404: stop polling this token."""
        self._book_closed.add(token_id)

    def _current(self) -> MarketSnapshot:
        """The latest snapshot; 404-closed tokens of forgotten markets are dropped on a new one."""
        snapshot = self.snapshot  # one read: the refresh side may publish a new one at any time
        if snapshot.version != self._book_closed_version:
            self._book_closed &= snapshot.token_ids
            self._book_closed_version = snapshot.version
        return snapshot

    def _select(self, snapshot: MarketSnapshot, now_ms: int) -> list[Market]:
        grace_ms = round(self.settings.grace_seconds * 1000)
        closed = snapshot.closed_tokens
        chosen: list[Market] = []
        upcoming: dict[str, list[Market]] = {}
        for market in snapshot.markets:
            if all(token in closed or token in self._book_closed for token, _ in market.tokens):
                continue
            if market.start_ms <= now_ms < market.end_ms + grace_ms:
                chosen.append(market)
            elif market.start_ms > now_ms:
                upcoming.setdefault(market.series, []).append(market)
        for series_id in self.settings.series:
            chosen.extend(upcoming.get(series_id, [])[: self.settings.upcoming])
        return chosen
