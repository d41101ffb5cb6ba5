"""Parse Gamma ``/events`` answers into tradeable BTC up/down markets.

Pure functions, no I/O. The real API silently ignores unknown query
parameters, so nothing in an answer is trusted: an event is kept only when
its ``series[].id`` is the series asked for and it looks like a BTC up/down
event. A market's CLOB ids come from the field its ``version`` names
(Protocol V2): ``"v1"`` (or no ``version``) reads ``clobTokenIds``, a
JSON-encoded string; ``"v2"`` reads ``positionIds``, a plain JSON list, even
when ``clobTokenIds`` is there too. Ids and ``outcomes`` (a JSON-encoded
string) are paired by index. Ids that cannot be read (missing, wrong type,
not decimal strings, not one per outcome, an unknown ``version``) are schema
drift; a market with other than two outcomes is skipped with a reason.
Window times come from ``endDate`` and ``eventStartTime`` (else the event's
``startTime``, else ``endDate`` minus the series' recurrence), never the
title or the slug, so both hourly slug forms work. A pre-listed market
with ``enableOrderBook: false`` is kept (its token ids are known a day ahead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from orderbooks.timefmt import iso_s, parse_iso_ms

_BTC_UPDOWN_RE = re.compile(r"(btc|bitcoin)[- ]?up[- ]?(or[- ]?)?down|btc-updown", re.IGNORECASE)
_TOKEN_RE = re.compile(r"^[0-9]{1,80}$")
#: Gamma market ``version`` -> the field that holds its CLOB ids (Protocol V2; seen 2026-12-07).
ID_FIELDS = {"v1": "clobTokenIds", "v2": "positionIds"}


@dataclass(frozen=True)
class Market:
    """One binary market (one window of one series), tokens paired with outcomes by index."""

    series: str
    slug: str
    condition_id: str
    window_start: str  # ISO-8601 as Gamma sent eventStartTime
    window_end: str  # ISO-8601 as Gamma sent endDate
    start_ms: int
    end_ms: int
    tokens: tuple[tuple[str, str], ...]  # ((token_id, outcome), (token_id, outcome))
    closed: bool = False
    #: Gamma's ``enableOrderBook`` at the last refresh: False for pre-listed markets.
    book_enabled: bool = True
    #: Where ``window_start`` came from: eventStartTime, startTime or "endDate - recurrence".
    start_source: str = "eventStartTime"
    #: Gamma's market ``version``: "v1" (ids from ``clobTokenIds``; also when absent) or "v2"
    #: (ids from ``positionIds``).
    version: str = "v1"

    def outcome_of(self, token_id: str) -> str | None:
        for token, outcome in self.tokens:
            if token == token_id:
                return outcome
        return None


@dataclass(frozen=True)
class Skipped:
    series: str
    slug: str
    reason: str
    drift: bool = False  # True when a field has the wrong shape (schema drift), not a legit skip
    market_id: str = ""  # Gamma's market ``id`` (else its ``conditionId``) when there is one

    @property
    def market(self) -> str:
        """The market named for records and logs: its slug, and its id when known."""
        return f"{self.slug} (market {self.market_id})" if self.market_id else self.slug


class MarketDrift(ValueError):
    """A market field is missing or has the wrong type: schema drift, not a legit skip."""


def decode_list(value: Any, name: str) -> list[Any]:
    """A JSON-encoded string of a list (or, tolerated, a real list)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise MarketDrift(f"{name} is {type(value).__name__}, expected a JSON string")
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise MarketDrift(f"{name} is not valid JSON: {value[:60]!r}") from None
    if not isinstance(decoded, list):
        raise MarketDrift(f"{name} is not a JSON list")
    return decoded


def market_version(market: dict[str, Any]) -> str:
    """The market's ``version``: "v1" when absent (or null), else "v1" or "v2"; MarketDrift otherwise."""
    version = market.get("version")
    if version is None:
        return "v1"
    if not isinstance(version, str) or version not in ID_FIELDS:
        raise MarketDrift(f"unknown version {str(version)[:20]!r}; known: {', '.join(ID_FIELDS)}")
    return version


def market_ids(market: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """(version, the field read, its ids): ``clobTokenIds`` for v1, ``positionIds`` for v2.

    The field is chosen by ``version`` alone, even when both are present. ``positionIds``
    is a plain JSON list; a JSON-encoded string of one is tolerated, as a real list is
    for ``clobTokenIds``.
    """
    version = market_version(market)
    field = ID_FIELDS[version]
    value = market.get(field)
    if version == "v2" and not isinstance(value, list | str):
        raise MarketDrift(f"{field} is {type(value).__name__}, expected a list (version {version})")
    return version, field, decode_list(value, field)


def event_in_series(event: dict[str, Any], series_id: str) -> bool:
    series = event.get("series")
    if not isinstance(series, list):
        return False
    return any(isinstance(s, dict) and str(s.get("id")) == str(series_id) for s in series)


def looks_btc_updown(event: dict[str, Any]) -> bool:
    texts = [event.get("slug"), event.get("ticker"), event.get("seriesSlug"), event.get("title")]
    for s in event.get("series") or []:
        if isinstance(s, dict):
            texts.extend([s.get("slug"), s.get("ticker")])
    return any(isinstance(t, str) and _BTC_UPDOWN_RE.search(t) for t in texts)


def parse_market(event: dict[str, Any], market: dict[str, Any], series_id: str) -> Market:
    """One Gamma market -> Market; ValueError with a short reason when unusable."""
    if not isinstance(market, dict):
        raise MarketDrift("market is not an object")
    condition_id = market.get("conditionId")
    if not isinstance(condition_id, str) or not condition_id:
        raise MarketDrift("no conditionId")
    outcomes = decode_list(market.get("outcomes"), "outcomes")
    version, field, tokens = market_ids(market)
    if len(tokens) != len(outcomes):
        raise MarketDrift(f"{len(tokens)} {field} for {len(outcomes)} outcomes (version {version})")
    if len(outcomes) != 2 or len(tokens) != 2:
        raise ValueError(f"expected 2 outcomes and 2 {field}, got {len(outcomes)} and {len(tokens)}")
    if not all(isinstance(o, str) and o for o in outcomes):
        raise MarketDrift("outcomes are not non-empty strings")
    if not all(isinstance(t, str) and _TOKEN_RE.match(t) for t in tokens):
        raise MarketDrift(f"{field} are not decimal strings (version {version})")
    if tokens[0] == tokens[1]:
        raise ValueError(f"both {field} are equal")
    enabled = market.get("enableOrderBook", True)
    if not isinstance(enabled, bool):
        raise MarketDrift(f"enableOrderBook is {type(enabled).__name__}, expected a bool")
    closed = market.get("closed", False)
    if not isinstance(closed, bool):
        raise MarketDrift(f"closed is {type(closed).__name__}, expected a bool")
    window_end = market.get("endDate") or event.get("endDate")
    try:
        end_ms = parse_iso_ms(window_end)
    except ValueError as exc:
        raise MarketDrift(f"bad window times: endDate: {exc}") from None
    window_start, start_source = _window_start(event, market, end_ms)
    try:
        start_ms = parse_iso_ms(window_start)
    except ValueError as exc:
        raise MarketDrift(f"bad window times: {start_source}: {exc}") from None
    if end_ms <= start_ms:
        raise ValueError(f"endDate {window_end} is not after eventStartTime {window_start}")
    slug = market.get("slug") or event.get("slug") or condition_id
    return Market(
        series=str(series_id),
        slug=str(slug),
        condition_id=condition_id,
        window_start=str(window_start),
        window_end=str(window_end),
        start_ms=start_ms,
        end_ms=end_ms,
        tokens=((tokens[0], outcomes[0]), (tokens[1], outcomes[1])),
        closed=closed or event.get("closed") is True,
        book_enabled=enabled,
        start_source=start_source,
        version=version,
    )


#: ``series[].recurrence`` -> window length in ms (values seen on 2026-05-12; "1h" tolerated).
RECURRENCE_MS = {
    "5m": 300_000,
    "15m": 900_000,
    "hourly": 3_600_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "daily": 86_400_000,
}


def event_recurrence_ms(event: dict[str, Any]) -> int | None:
    """Window length from the event's ``series[].recurrence``; None when absent or unknown."""
    for s in event.get("series") or []:
        if isinstance(s, dict) and isinstance(s.get("recurrence"), str):
            length = RECURRENCE_MS.get(s["recurrence"].lower())
            if length:
                return length
    return None


def _window_start(event: dict[str, Any], market: dict[str, Any], end_ms: int) -> tuple[Any, str]:
    """The window start and its source: eventStartTime, else startTime, else endDate - recurrence."""
    if market.get("eventStartTime"):
        return market["eventStartTime"], "eventStartTime"
    if event.get("startTime"):
        return event["startTime"], "startTime"
    length = event_recurrence_ms(event)
    if length is None:
        raise MarketDrift(
            "cannot place the window: no eventStartTime, no startTime, no known series recurrence"
        )
    start = iso_s(end_ms - length)
    return start, "endDate - recurrence"


def parse_keyset_page(payload: Any) -> tuple[list[Any], str | None]:
    """A ``GET /events/keyset`` answer -> (events, next_cursor or None on the last page).

    Raises ValueError (schema drift) when the answer is not
    ``{"events": [...], "next_cursor": "..."}`` with the cursor optional.
    """
    if not isinstance(payload, dict):
        raise ValueError(f"/events/keyset answer is {type(payload).__name__}, expected an object")
    events = payload.get("events")
    if not isinstance(events, list):
        raise ValueError(f"/events/keyset events is {type(events).__name__}, expected a list")
    cursor = payload.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError(f"/events/keyset next_cursor is {type(cursor).__name__}, expected a string")
    return events, cursor or None


def parse_events(payload: Any, series_id: str) -> tuple[list[Market], list[Skipped]]:
    """A ``GET /events`` answer -> (markets of *series_id*, skipped with reasons).

    Raises ValueError when the answer is not a list at all (schema drift).
    """
    if not isinstance(payload, list):
        raise ValueError(f"/events answer is {type(payload).__name__}, expected a list")
    markets: list[Market] = []
    skipped: list[Skipped] = []
    for event in payload:
        if not isinstance(event, dict):
            skipped.append(Skipped(series_id, "?", "event is not an object"))
            continue
        slug = str(event.get("slug", "?"))
        ignored = None
        if not event_in_series(event, series_id):
            ignored = "not in the requested series"
        elif not looks_btc_updown(event):
            ignored = "not a BTC up/down event"
        if ignored:
            skipped.append(Skipped(series_id, slug, ignored))
            skipped.extend(_drift_in_ignored(event, series_id, slug))
            continue
        for market in event.get("markets") or []:
            try:
                markets.append(parse_market(event, market, series_id))
            except ValueError as exc:
                mslug = market.get("slug", slug) if isinstance(market, dict) else slug
                drift = isinstance(exc, MarketDrift)
                skipped.append(Skipped(series_id, str(mslug), str(exc), drift, _market_id(market)))
    return markets, skipped


def _drift_in_ignored(event: dict[str, Any], series_id: str, slug: str) -> list[Skipped]:
    """Shape problems in an event we do not use are still schema drift of the answer."""
    found = []
    for market in event.get("markets") or []:
        try:
            parse_market(event, market, series_id)
        except MarketDrift as exc:
            found.append(
                Skipped(
                    series_id, slug, f"in an ignored event: {exc}", drift=True, market_id=_market_id(market)
                )
            )
        except ValueError:
            pass
    return found


def _market_id(market: Any) -> str:
    """Gamma's ``id`` of a market object, else its ``conditionId``; "" when it has neither."""
    if not isinstance(market, dict):
        return ""
    for key in ("id", "conditionId"):
        value = market.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:80]
    return ""
