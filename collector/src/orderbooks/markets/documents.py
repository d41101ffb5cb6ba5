"""Market documents: each tracked market's Gamma record, kept when first seen and after it closes.

Discovery hands every listing page it parsed to ``MarketDocs.listed`` (in the
discovery thread: one queue put, nothing else). A worker thread of its own
(``start()``), off the poll loop like discovery's, then:

1. writes a ``first_seen`` document for each market of the schedule not yet
   documented: the market object exactly as Gamma returned it in the
   listing, with its event (the event object without its ``markets`` list)
   as context;
2. after the market's window end asks Gamma for the market again
   (``GET /markets/{id}``: the listing only holds open markets), first
   ``first_seconds`` after the end, then with doubling waits up to
   ``max_backoff_seconds``, until the answer says ``closed: true`` with
   ``outcomePrices``; that answer is written verbatim as the ``closed``
   document. It gives up ``give_up_seconds`` after the end;
3. seals the daily file when a UTC day ends (``store.market_files.DocsFile``).

Before its thread starts, ``resume(data_dir)`` reads the sealed markets files
of the last ``FORGET_AFTER_MS`` (the collect command's recovery has sealed
every file a crash left open). A market documented by an earlier run is not
documented again, and one whose ``first_seen`` has no ``closed`` yet (its
window closed while the collector was down, or the earlier run stopped
before Gamma closed it) is asked for again: from now, with the same backoff,
giving up ``give_up_seconds`` after the later of its end and the resume.

Failures never stop anything: the request failures of the client and a
``market_document`` failure record (giving up, a document that could not be
written; a wrong answer is ``schema_drift``) go into a queue that the poll thread empties with
``drain_failures()`` into the sink; each is logged at warning level or above.
``run_due()`` is one pass in the caller's thread (unit tests call it with a
``FakeClock``).
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbooks.api.client import ApiClient
from orderbooks.clock import Clock
from orderbooks.logs import Logger, get_logger
from orderbooks.markets.gamma import Market, MarketDrift, decode_list
from orderbooks.markets.resume import Resumed, read_earlier
from orderbooks.records import FailureRecord, QueuedFailures
from orderbooks.store.market_files import CLOSED, DOC_SCHEMA, FIRST_SEEN, DocsFile

#: First look for the closed record, after the window end (seconds).
FIRST_SECONDS = 5.0
#: Longest wait between two looks (seconds); waits double from FIRST_SECONDS up to this.
MAX_BACKOFF_SECONDS = 60.0
#: No closed record this long after the window end: give up with a failure record (seconds).
GIVE_UP_SECONDS = 3600.0
#: Time one request may take with its retries (seconds).
REQUEST_SECONDS = 15.0
#: Longest idle wait of the thread between passes (seconds).
IDLE_SECONDS = 0.5
CRASH_PAUSE_SECONDS = 10.0
#: Documents kept in memory while the disk refuses them (then the oldest are dropped, counted).
MAX_UNWRITTEN = 10_000
#: A market is documented once; it is forgotten this long after its end (ms), and
#: ``resume`` reads the files of the days that can hold such markets.
FORGET_AFTER_MS = 2 * 86_400_000
ERROR = "market_document"


@dataclass
class _Pending:
    market: Market
    market_id: str
    due_ms: int
    give_up_at_ms: int
    attempts: int = 0
    last: str = ""


def event_context(event: dict[str, Any]) -> dict[str, Any]:
    """The event object as Gamma sent it, without its ``markets`` list (the market is kept apart)."""
    return {key: value for key, value in event.items() if key != "markets"}


def first_seen_doc(
    market: Market, raw: dict[str, Any], event: dict[str, Any], source: str, recv_ms: int
) -> dict[str, Any]:
    return {
        **_common(FIRST_SEEN, market, raw.get("id"), source, recv_ms),
        "market": raw,
        "event": event_context(event),
    }


def closed_problem(data: Any, market: Market) -> tuple[str | None, bool]:
    """(None, False) when *data* is *market*'s closed, resolved record, else (reason, wrong answer?)."""
    if not isinstance(data, dict):
        return f"answer is {type(data).__name__}, expected a market object", True
    if data.get("conditionId") != market.condition_id:
        return f"answer is for conditionId {str(data.get('conditionId'))[:70]!r}", True
    try:
        prices = decode_list(data.get("outcomePrices"), "outcomePrices")
        outcomes = decode_list(data.get("outcomes"), "outcomes")
    except MarketDrift as exc:
        return str(exc), True
    if len(prices) != len(outcomes) or not all(isinstance(p, str) for p in prices):
        return f"outcomePrices {str(data['outcomePrices'])[:60]!r} do not pair with outcomes", True
    if data.get("closed") is not True:
        return "not closed yet", False
    return None, False


def price_rule(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The price rule the market resolves on, as far as its Gamma record says so; None if silent.

    Copied, not interpreted: ``cryptoMarketConfig`` ``twapEnabled`` and
    ``twapLookbackSeconds`` (a Chainlink TWAP over that many seconds; real BTC
    5m and 15m markets of 2026-09-28 say true and 60), its id and
    ``resolutionSource``. A value Gamma does not send is null.
    """
    config = raw.get("cryptoMarketConfig")
    config = config if isinstance(config, dict) else {}
    rule = {
        "twap_enabled": config.get("twapEnabled"),
        "twap_lookback_seconds": config.get("twapLookbackSeconds"),
        "config_id": raw.get("cryptoMarketConfigId", config.get("id")),
        "resolution_source": raw.get("resolutionSource"),
    }
    return rule if any(value is not None for value in rule.values()) else None


def closed_doc(
    market: Market, raw: dict[str, Any], source: str, recv_ms: int, attempts: int
) -> dict[str, Any]:
    """The closed document; ``outcome_prices``, ``winner`` and ``price_rule`` are read from ``market``."""
    outcomes = decode_list(raw.get("outcomes"), "outcomes")
    prices = decode_list(raw["outcomePrices"], "outcomePrices")
    resolved = dict(zip((str(o) for o in outcomes), prices, strict=True))
    winners = [o for o, p in resolved.items() if _is_one(p)]
    return {
        **_common(CLOSED, market, raw.get("id"), source, recv_ms),
        "attempts": attempts,
        "outcome_prices": resolved,
        "winner": winners[0] if len(winners) == 1 else None,
        "price_rule": price_rule(raw),
        "market": raw,
    }


def _usable_id(market_id: Any) -> bool:
    return market_id is not None and str(market_id) != "" and "/" not in str(market_id)


def _is_one(price: Any) -> bool:
    try:
        return float(price) == 1.0
    except (TypeError, ValueError):
        return False


def _common(kind: str, market: Market, market_id: Any, source: str, recv_ms: int) -> dict[str, Any]:
    return {
        "schema": DOC_SCHEMA,
        "kind": kind,
        "recv_ms": recv_ms,
        "series": market.series,
        "slug": market.slug,
        "condition_id": market.condition_id,
        "market_id": None if market_id is None else str(market_id),
        "window_start": market.window_start,
        "window_end": market.window_end,
        "tokens": dict(market.tokens),
        "source": source,
    }


class MarketDocs(QueuedFailures):
    def __init__(
        self,
        files: DocsFile,
        client: ApiClient,
        clock: Clock,
        *,
        first_seconds: float = FIRST_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        give_up_seconds: float = GIVE_UP_SECONDS,
        log: Logger | None = None,
    ) -> None:
        super().__init__()
        self.files = files
        self.client = client
        self.clock = clock
        self.first_ms = round(first_seconds * 1000)
        self.max_backoff_ms = round(max_backoff_seconds * 1000)
        self.give_up_ms = round(give_up_seconds * 1000)
        self.log = log or get_logger("market_docs")
        self.written = {FIRST_SEEN: 0, CLOSED: 0}
        self.dropped = 0
        self._listings: queue.SimpleQueue[tuple[str, list[Any], list[Market], str, int]] = queue.SimpleQueue()
        self._seen: dict[str, int] = {}  # condition_id -> end_ms (documented by this run or resumed)
        self._pending: dict[str, _Pending] = {}  # condition_id -> the closed record still to fetch
        self._unwritten: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()  # the file: the worker's passes vs close()
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ earlier runs (before start)

    def resume(self, data_dir: Path) -> Resumed:
        """Learn from the sealed markets files of earlier runs what is documented and what is still open."""
        now = self.clock.wall_ms()
        horizon = now - FORGET_AFTER_MS
        earlier = read_earlier(data_dir, horizon)
        found = Resumed(files=earlier.files, documents=earlier.documents, skipped=earlier.skipped)
        for cid, (market, market_id) in earlier.first_seen.items():
            if market.end_ms <= horizon:
                continue
            self._seen[cid] = market.end_ms
            if cid in earlier.closed or cid in self._pending or not _usable_id(market_id):
                continue
            due = max(market.end_ms + self.first_ms, now)
            give_up = max(market.end_ms, now) + self.give_up_ms
            self._pending[cid] = _Pending(market, str(market_id), due, give_up)
            found.awaiting_close += 1
        found.markets = len(self._seen)
        found.closed = len(earlier.closed)
        for reason in found.skipped:
            self.log.warning("market_docs_resume_skipped", reason=reason[:300])
        if found.skipped:
            self._failures.put(
                FailureRecord.observed(
                    now,
                    None,
                    ERROR,
                    f"{len(found.skipped)} markets files or documents of earlier runs not readable "
                    f"(first: {found.skipped[0][:200]}); their markets may be documented again",
                )
            )
        self.log.info("market_docs_resumed", **found.to_dict())
        return found

    # ------------------------------------------------------------ intake (discovery thread)

    def listed(
        self, series_id: str, events: list[Any], markets: list[Market], source: str, recv_ms: int
    ) -> None:
        """One parsed listing page: its raw events and the markets parsed from them."""
        if markets:
            self._listings.put((series_id, events, markets, source, recv_ms))

    @property
    def pending(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------ one pass (worker thread)

    def run_due(self) -> None:
        """Document new markets, fetch the closed records due, seal a finished day."""
        self._intake()
        now = self.clock.wall_ms()
        for item in sorted(self._pending.values(), key=lambda p: p.due_ms):
            if item.due_ms > now or self._stop.is_set():
                break
            self._fetch_closed(item)
        self._forget(now)
        with self._lock:
            if not self._closed:
                self._retry_unwritten()
                self.files.roll()

    def _intake(self) -> None:
        while True:
            try:
                _series, events, markets, source, recv_ms = self._listings.get_nowait()
            except queue.Empty:
                return
            wanted = {m.condition_id: m for m in markets if m.condition_id not in self._seen}
            for event in events:
                if not wanted:
                    break
                if not isinstance(event, dict) or not isinstance(event.get("markets"), list):
                    continue
                for raw in event["markets"]:
                    market = wanted.pop(raw.get("conditionId"), None) if isinstance(raw, dict) else None
                    if market is not None:
                        self._first_seen(market, raw, event, source, recv_ms)

    def _first_seen(
        self, market: Market, raw: dict[str, Any], event: dict[str, Any], source: str, recv_ms: int
    ) -> None:
        self._seen[market.condition_id] = market.end_ms
        self._write(first_seen_doc(market, raw, event, source, recv_ms))
        market_id = raw.get("id")
        if not _usable_id(market_id):
            self._failure(
                market, f"{market.slug}: no usable market id in the Gamma record; no closed document"
            )
            return
        self._pending[market.condition_id] = _Pending(
            market, str(market_id), market.end_ms + self.first_ms, market.end_ms + self.give_up_ms
        )

    def _fetch_closed(self, item: _Pending) -> None:
        item.attempts += 1
        path = f"/markets/{item.market_id}"
        result = self.client.get_json(
            "gamma", path, deadline=self.clock.monotonic() + REQUEST_SECONDS, series=item.market.series
        )
        for failure in result.failures:
            self._failures.put(failure)
        now = self.clock.wall_ms()
        if result.ok:
            reason, wrong = closed_problem(result.data, item.market)
            if reason is None:
                doc = closed_doc(
                    item.market, result.data, f"GET {path}", result.recv_ms or now, item.attempts
                )
                del self._pending[item.market.condition_id]
                self._write(doc)
                self.log.info(
                    "market_closed_documented",
                    slug=item.market.slug,
                    winner=doc["winner"],
                    attempts=item.attempts,
                    after_end_s=round((now - item.market.end_ms) / 1000, 1),
                )
                return
            if wrong:
                self._failure(
                    item.market, f"GET {path}: {reason}", endpoint=f"GET {path}", error="schema_drift"
                )
        else:
            reason = f"{result.error}: {result.message}"
        item.last = reason
        if now >= item.give_up_at_ms:
            del self._pending[item.market.condition_id]
            self._failure(
                item.market,
                f"{item.market.slug}: no closed record with outcomePrices "
                f"{(now - item.market.end_ms) // 1000} s after its end "
                f"({item.attempts} attempts; last: {reason})",
                endpoint=f"GET {path}",
            )
            return
        wait = min(self.max_backoff_ms, self.first_ms * 2 ** min(item.attempts, 20))
        item.due_ms = now + max(wait, 1)

    def _forget(self, now_ms: int) -> None:
        if len(self._seen) > 1000:
            for cid in [c for c, end in self._seen.items() if end < now_ms - FORGET_AFTER_MS]:
                del self._seen[cid]

    # ------------------------------------------------------------ writing

    def _write(self, doc: dict[str, Any]) -> None:
        with self._lock:
            if self._closed:
                self.dropped += 1
                self.log.warning("market_document_after_close", slug=doc["slug"], kind=doc["kind"])
                return
            self._retry_unwritten()
            if self._unwritten:
                self._keep(doc)
                return
            try:
                self.files.append(doc)
            except OSError as exc:
                self._keep(doc)
                self.log.error(
                    "market_document_write_failed", slug=doc["slug"], kind=doc["kind"], error=str(exc)
                )
                self._failures.put(
                    FailureRecord.observed(
                        self.clock.wall_ms(),
                        None,
                        ERROR,
                        f"{doc['slug']}: {doc['kind']} not written: {exc}",
                        series=doc["series"],
                    )
                )
                return
            self.written[doc["kind"]] += 1

    def _keep(self, doc: dict[str, Any]) -> None:
        self._unwritten.append(doc)
        while len(self._unwritten) > MAX_UNWRITTEN:
            self._unwritten.popleft()
            self.dropped += 1

    def _retry_unwritten(self) -> None:
        while self._unwritten:
            try:
                self.files.append(self._unwritten[0])
            except OSError:
                return
            self.written[self._unwritten.popleft()["kind"]] += 1

    def _failure(self, market: Market, message: str, endpoint: str | None = None, error: str = ERROR) -> None:
        self.log.warning(error, slug=market.slug, series=market.series, message=message)
        self._failures.put(
            FailureRecord.observed(
                self.clock.wall_ms(), None, error, message, series=market.series, endpoint=endpoint
            )
        )

    # ------------------------------------------------------------ thread

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the market documents worker is already started")
        self._thread = threading.Thread(target=self._loop, name="market-docs", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float) -> bool:
        """End the thread (a request in flight ends on its own timeouts); False if still busy."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.log.warning("market_docs_thread_busy_at_stop", timeout=timeout)
            return False
        return True

    def close(self) -> None:
        """Seal the open file (after ``stop``); documents arriving later are dropped and counted."""
        with self._lock:
            self._retry_unwritten()
            self._closed = True
            self.files.close()
            lost = len(self._unwritten)
        if lost:
            self.log.error("market_documents_not_written", documents=lost)
        self.log.info(
            "market_docs_closed",
            first_seen=self.written[FIRST_SEEN],
            closed=self.written[CLOSED],
            awaiting_close=len(self._pending),
            dropped=self.dropped + lost,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            pause = IDLE_SECONDS
            try:
                self.run_due()
            except Exception as exc:
                pause = CRASH_PAUSE_SECONDS
                self.log.error(
                    "step_crashed",
                    step="market_docs",
                    error=repr(exc)[:300],
                    traceback=traceback.format_exc()[-2000:],
                )
            self._stop.wait(pause)
