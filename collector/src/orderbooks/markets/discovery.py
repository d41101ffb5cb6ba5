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

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orderbooks.api.client import ApiClient
from orderbooks.api.outages import family
from orderbooks.clock import Clock
from orderbooks.config import Settings
from orderbooks.logs import Logger, get_logger
from orderbooks.markets.gamma import (
    Market,
    Skipped,
    event_in_series,
    event_recurrence_ms,
    parse_events,
    parse_keyset_page,
)
from orderbooks.records import FailureRecord
from orderbooks.timefmt import iso_s, parse_iso_ms

#: The documented listing (keyset pagination) and the legacy one (offset paging, being retired).
KEYSET_PATH = "/events/keyset"
LEGACY_PATH = "/events"
#: Statuses of ``GET /events/keyset`` that mean it is not served: fall back to ``/events``.
KEYSET_UNAVAILABLE = (404, 405, 410, 501)
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
        #: The listing in use: keyset until it answers "not here", then legacy (said once, warning).
        self.endpoint = KEYSET_PATH
        #: series -> window length learnt from ``series[].recurrence``.
        self.recurrence_ms: dict[str, int] = {}
        self._gamma_closed: set[str] = set()
        self._logged_skips: set[tuple[str, str]] = set()
        #: series -> (market, reason) of its drifted markets at its last complete refresh: an
        #: incident is warned about once, when it starts, and logged at debug while it lasts.
        self._drifting: dict[str, set[tuple[str, str]]] = {}
        #: series -> the drifted markets seen so far by the refresh under way.
        self._drift_seen: dict[str, set[tuple[str, str]]] = {}
        #: Called with (series, raw events, markets parsed from them, endpoint, recv_ms) for each
        #: listing page (market_docs.MarketDocs.listed); must be quick and must not raise.
        self.on_listed: Callable[[str, list[Any], list[Market], str, int], None] | None = None
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
        """Page through the listing of one series (keyset, else plain /events) and merge it."""
        now_ms = self.clock.wall_ms()
        path = self.endpoint
        self._drift_seen[series_id] = set()
        failures: list[FailureRecord] = []
        found: list[Market] = []
        answered = in_series = 0
        cursor: str | None = None
        for page in range(MAX_PAGES):
            result = self.client.get_json(
                "gamma",
                path,
                params=self._params(series_id, now_ms, page, cursor),
                deadline=deadline,
                cycle=cycle,
                series=series_id,
            )
            failures.extend(result.failures)
            endpoint = f"GET {path}"
            if not result.ok:
                if path == KEYSET_PATH and page == 0 and result.status in KEYSET_UNAVAILABLE:
                    failures.append(self._fall_back(series_id, cycle, result.status))
                    return failures + self.refresh_series(series_id, deadline, cycle)
                if path == LEGACY_PATH and page > 0 and result.status == 422:
                    failures.append(
                        self._record(
                            cycle,
                            "discovery",
                            f"offset paging refused (422); listing cut at {answered} events",
                            series_id,
                            endpoint,
                            status=422,
                        )
                    )
                    self.log.warning("discovery_offset_refused", series=series_id, events=answered)
                    break
                # An API outage is told by the client's outage lines: this refresh's line is detail.
                outage = result.error is not None and family(result.error, result.status) is not None
                return failures + self._failed(
                    series_id,
                    cycle,
                    f"{endpoint} failed: {result.error}: {result.message}",
                    result.status,
                    level="debug" if outage else "warning",
                )
            try:
                if path == KEYSET_PATH:
                    events, cursor = parse_keyset_page(result.data)
                else:
                    events, cursor = result.data, None
                markets, skipped = parse_events(events, series_id)
            except ValueError as exc:
                drift = self._record(cycle, "schema_drift", str(exc), series_id, endpoint)
                self.log.warning(
                    "discovery_schema_drift", series=series_id, endpoint=endpoint, error=str(exc)
                )
                return [
                    *failures,
                    drift,
                    *self._failed(series_id, cycle, f"unusable {endpoint} answer: {exc}"),
                ]
            if self.on_listed is not None:
                self._notify_listed(series_id, events, markets, endpoint, result.recv_ms or now_ms)
            answered += len(events)
            in_series += sum(1 for e in events if isinstance(e, dict) and event_in_series(e, series_id))
            self._learn_recurrence(series_id, events)
            found.extend(markets)
            failures.extend(self._report_skips(series_id, cycle, skipped, result.status, endpoint))
            if self._beyond_horizon(events, now_ms):
                break
            last_page = cursor is None if path == KEYSET_PATH else len(events) < PAGE_SIZE
            if last_page:
                break
        if answered and not in_series:
            return failures + self._failed(
                series_id,
                cycle,
                f"blind discovery: {answered} events answered, none of series {series_id} "
                "(is the series filter ignored?)",
            )
        self._merge(series_id, found, now_ms)
        # A complete listing: drift incidents of this series it no longer shows are over.
        self._drifting[series_id] = self._drift_seen.pop(series_id, set())
        self.failed_in_a_row[series_id] = 0
        self.last_ok_ms[series_id] = self.clock.wall_ms()
        self.next_refresh[series_id] = self._next_refresh_at(series_id, now_ms)
        if len(self._logged_skips) > 10_000:
            self._logged_skips.clear()
        self.log.info(
            "discovery_refreshed",
            series=series_id,
            endpoint=path,
            markets=len(found),
            ignored_events=answered - in_series,
            known=len(self.known),
        )
        missing = self._no_open_window(series_id, now_ms)
        if missing:
            failures.append(self._record(cycle, "discovery", missing, series_id, f"GET {path}"))
            self.log.warning("discovery_no_open_window", series=series_id, message=missing)
        return failures

    def _notify_listed(
        self, series_id: str, events: list[Any], markets: list[Market], endpoint: str, recv_ms: int
    ) -> None:
        try:
            assert self.on_listed is not None
            self.on_listed(series_id, events, markets, endpoint, recv_ms)
        except Exception as exc:  # a listener's bug never costs a refresh
            self.log.error("listing_listener_failed", series=series_id, error=repr(exc)[:300])

    def _params(self, series_id: str, now_ms: int, page: int, cursor: str | None) -> dict[str, Any]:
        grace_ms = round(self.settings.grace_seconds * 1000)
        params: dict[str, Any] = {
            "series_id": series_id,
            "closed": "false",
            "end_date_min": iso_s(now_ms - grace_ms),
            "order": "endDate",
            "ascending": "true",
            "limit": PAGE_SIZE,
        }
        if cursor is not None:
            params["after_cursor"] = cursor  # opaque: passed back exactly as received
        elif page and self.endpoint == LEGACY_PATH:
            params["offset"] = page * PAGE_SIZE
        return params

    def _fall_back(self, series_id: str, cycle: int | None, status: int | None) -> FailureRecord:
        """Keyset is not served here: list with plain /events from now on (warning + failure record)."""
        self.endpoint = LEGACY_PATH
        message = f"GET {KEYSET_PATH} unavailable (HTTP {status}); falling back to GET {LEGACY_PATH}"
        self.log.warning("discovery_keyset_unavailable", series=series_id, status=status, message=message)
        return self._record(cycle, "discovery", message, series_id, f"GET {KEYSET_PATH}", status=status)

    def _report_skips(
        self, series_id: str, cycle: int | None, skipped: list[Skipped], status: int | None, endpoint: str
    ) -> list[FailureRecord]:
        failures = []
        for skip in skipped:
            if skip.reason in ("not in the requested series", "not a BTC up/down event"):
                continue
            if skip.drift:
                failures.append(
                    self._record(
                        cycle,
                        "schema_drift",
                        f"{skip.market}: {skip.reason}",
                        series_id,
                        endpoint,
                        status=status,
                    )
                )
                self._drift_signal(series_id, skip)
            elif (skip.slug, skip.reason) not in self._logged_skips:
                self._logged_skips.add((skip.slug, skip.reason))
                self.log.warning("market_skipped", series=series_id, slug=skip.slug, reason=skip.reason)
        return failures

    def _drift_signal(self, series_id: str, skip: Skipped) -> None:
        """A warning when a market's drift starts; a debug line while the same drift lasts.

        Every drifted answer is still a failure record (the caller's): the record counts
        answers, the warning counts incidents.
        """
        key = (skip.market, skip.reason)
        self._drift_seen.setdefault(series_id, set()).add(key)
        ongoing = self._drifting.setdefault(series_id, set())
        fields = {"series": series_id, "slug": skip.slug, "market_id": skip.market_id, "reason": skip.reason}
        if key in ongoing:
            self.log.debug("market_schema_drift_again", **fields)
            return
        ongoing.add(key)
        self.log.warning("market_schema_drift", **fields)

    def _learn_recurrence(self, series_id: str, events: list) -> None:
        for event in events:
            if isinstance(event, dict) and event_in_series(event, series_id):
                length = event_recurrence_ms(event)
                if length:
                    self.recurrence_ms[series_id] = length
                    return

    def _no_open_window(self, series_id: str, now_ms: int) -> str | None:
        """A reason when the series' recurrence says a window is open now but none is known."""
        length = self.recurrence_ms.get(series_id)
        if length is None:
            return None
        if any(m.series == series_id and m.start_ms <= now_ms < m.end_ms for m in self.known.values()):
            return None
        return (
            f"no open window of series {series_id} although its recurrence "
            f"({length // 1000} s windows) says one must exist"
        )

    def _next_refresh_at(self, series_id: str, now_ms: int) -> float:
        """The normal refresh, or just before the next tracked window of the series starts if sooner."""
        mono = self.clock.monotonic()
        at = mono + self.settings.discovery_interval
        lead_ms = round(self.settings.prestart_refresh_seconds * 1000)
        if lead_ms <= 0:
            return at
        upcoming = sorted(
            m.start_ms for m in self.known.values() if m.series == series_id and m.start_ms - lead_ms > now_ms
        )
        if upcoming:
            at = min(at, mono + (upcoming[0] - lead_ms - now_ms) / 1000)
        return at

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

    def _failed(
        self,
        series_id: str,
        cycle: int | None,
        message: str,
        status: int | None = None,
        *,
        level: str = "warning",
    ) -> list:
        """A failed refresh: a ``discovery`` record and a ``discovery_failed`` line at *level*
        (debug when an API outage failed it: the outage lines say so once)."""
        failed = self.failed_in_a_row.get(series_id, 0) + 1
        self.failed_in_a_row[series_id] = failed
        retry_in = retry_seconds(failed, self.settings.discovery_interval)
        self.next_refresh[series_id] = self.clock.monotonic() + retry_in
        self.log.log(
            level,
            "discovery_failed",
            series=series_id,
            message=message,
            known=len(self.known),
            retry_in=retry_in,
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
