"""Time-compressed BTC up/down series and the Gamma events that list them.

Every series has a window length; window ``k`` runs from ``k * length`` to
``(k + 1) * length`` (epoch milliseconds), so windows are aligned on the epoch.
Everything about a window (ids, slug, token ids, whether the token pair is
listed Down/Up, whether a malformed extra market rides along) is a pure
function of the seed, the series and ``k``: two simulators with the same seed
agree, and a restarted simulator lists the same markets.

Deliberate traps for the client (all deterministic, see docs/simulator.md):
- ``reversed``: for about a third of the markets ``outcomes`` is
  ``["Down", "Up"]`` and ``clobTokenIds`` follows the same order.
- ``malformed``: about one BTC event in seven carries a second market with
  three outcomes and three tokens, which has no order book.
- ``decoy``: open "Ethereum Up or Down" events (series ``99001``) are mixed
  into the answers for series 10684 and 10114 and into unfiltered queries.

Protocol V2 market ids (``market_version``, fixed for the simulator's life):
``"v1"`` lists markets as before Protocol V2 (``clobTokenIds``, no
``version`` key); ``"v2"`` lists every market as ``version: "v2"`` with its ids
in ``positionIds``, and on every other window also a ``clobTokenIds`` string of
other ids that have no book (a trap for a client that ignores ``version``);
``"mixed"`` lists even windows as ``version: "v1"`` and odd ones as v2 (with
the trap on every other one of those). The CLOB serves books for the ids of
the field the version names, and only for those.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from polysim.behaviour import Behaviour

try:
    from zoneinfo import ZoneInfo

    ET: Any = ZoneInfo("America/New_York")
except Exception:  # no tz database: a fixed offset is good enough for slugs
    ET = timezone(timedelta(hours=-5))

#: Real BTC series from the facts file: id -> (slug, recurrence, length in 5m units).
BTC_SERIES: dict[str, tuple[str, str, int]] = {
    "10684": ("btc-up-or-down-5m", "5m", 1),
    "10192": ("btc-up-or-down-15m", "15m", 3),
    "10114": ("btc-up-or-down-hourly", "hourly", 12),
    "10331": ("btc-up-or-down-4h", "4h", 48),
    "41": ("btc-up-or-down-daily", "daily", 288),
}
DEFAULT_SERIES = tuple(BTC_SERIES)
#: The non-BTC series whose events are mixed into some answers.
DECOY_SERIES_ID = "99001"
DECOY_SERIES_SLUG = "eth-up-or-down-5m"
#: BTC series whose ``/events`` answers also carry open decoy events.
DECOY_HOSTS = ("10684", "10114")
#: Share of markets listed Down/Up, and of events with a malformed extra market.
REVERSED_SHARE = 0.35
MALFORMED_SHARE = 0.15
#: ``--market-version`` values: how markets carry their CLOB ids (module docstring).
MARKET_VERSIONS = ("v1", "v2", "mixed")
#: How many closed windows per series ``closed=true`` still lists.
CLOSED_HISTORY = 20

_REAL_5M_MS = 300_000
_NEVER = 2**62  # closed_at of a stale event: Gamma never closes it
# Slugs of the hourly/daily series name an ET wall-clock time. Compressed
# windows get a virtual time on a real hourly/daily grid from this origin.
_VIRTUAL_ORIGIN = datetime(2026, 1, 1, 5, 0, tzinfo=UTC)  # midnight ET
_VIRTUAL_CYCLE = 50 * 365  # days before virtual slugs repeat
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


def digest(seed: int, *parts: object) -> bytes:
    text = "|".join([str(seed), *(str(p) for p in parts)])
    return hashlib.sha256(text.encode()).digest()


def unit(seed: int, *parts: object) -> float:
    """A deterministic number in [0, 1)."""
    return int.from_bytes(digest(seed, *parts)[:8], "big") / 2**64


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with a Z, as Gamma writes ``endDate`` (ms only when needed)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time_ms(text: str) -> int:
    """``end_date_min`` and friends: RFC 3339 (``Z`` or offset) or ``YYYY-MM-DD`` -> epoch ms."""
    value = text.strip().replace(" ", "T", 1)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def iso_micro(ms: int, seed: int, *parts: object) -> str:
    """Creation times carry microseconds, like Gamma's ``startDate``."""
    micro = int(unit(seed, "micro", *parts) * 1_000_000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{micro:06d}Z"


def window_ms(series_id: str, window_seconds: float, same_window: bool = False) -> int:
    """Window length of a series in ms: 5m = window_seconds, 15m = 3x, ... daily = 288x."""
    mult = 1 if series_id == DECOY_SERIES_ID else 1 if same_window else BTC_SERIES[series_id][2]
    length = round(window_seconds * 1000) * mult
    if length <= 0:
        raise ValueError("window length must be positive")
    return length


def expected_windows(
    series_id: str,
    start_ms: int,
    end_ms: int,
    window_seconds: float = 10,
    same_window: bool = False,
) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of every window of the series that overlaps [start_ms, end_ms)."""
    length = window_ms(series_id, window_seconds, same_window)
    first = start_ms // length
    last = (end_ms - 1) // length
    return [(k * length, (k + 1) * length) for k in range(first, last + 1)]


@dataclass(frozen=True)
class SimMarket:
    kind: str  # "btc", "decoy" or "malformed"
    series_id: str
    k: int
    market_id: str
    slug: str
    question: str
    condition_id: str
    question_id: str
    outcomes: tuple[str, ...]
    token_ids: tuple[str, ...]  # index-aligned with outcomes
    reversed: bool
    winner: str  # outcome that resolves to 1
    start_ms: int
    end_ms: int
    created_ms: int
    closed_at_ms: int
    #: Gamma's ``version``: "" (no key: v1 before Protocol V2), "v1" or "v2" (ids in ``positionIds``).
    version: str = ""
    #: A v2 market's ``clobTokenIds`` as well (index-aligned with outcomes): ids without a book.
    legacy_ids: tuple[str, ...] = ()

    @property
    def has_book(self) -> bool:
        return self.kind != "malformed"

    def outcome_of(self, token_id: str) -> str:
        return self.outcomes[self.token_ids.index(token_id)]

    def is_closed(self, now_ms: int) -> bool:
        return now_ms >= self.closed_at_ms

    def describe(self) -> dict[str, Any]:
        """What tests check rows against."""
        return {
            "kind": self.kind,
            "series": self.series_id,
            "slug": self.slug,
            "condition_id": self.condition_id,
            "window_start": iso_ms(self.start_ms),
            "window_end": iso_ms(self.end_ms),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "closed_at_ms": self.closed_at_ms,
            "reversed": self.reversed,
            "tokens": dict(zip(self.token_ids, self.outcomes, strict=True)),
            "version": self.version or "v1",
            "legacy_ids": list(self.legacy_ids),
        }


@dataclass(frozen=True)
class SimEvent:
    series_id: str
    series_slug: str
    recurrence: str
    k: int
    event_id: str
    slug: str
    title: str
    start_ms: int
    end_ms: int
    created_ms: int
    closed_at_ms: int
    markets: tuple[SimMarket, ...] = field(default=())


def _et_parts(dt_utc: datetime) -> tuple[str, int, int, str]:
    local = dt_utc.astimezone(ET)
    hour12 = local.hour % 12 or 12
    ampm = "am" if local.hour < 12 else "pm"
    return _MONTHS[local.month - 1], local.day, local.year, f"{hour12}{ampm}"


def _clock_label(dt_utc: datetime) -> str:
    local = dt_utc.astimezone(ET)
    return f"{local.hour % 12 or 12}:{local.minute:02d}{'AM' if local.hour < 12 else 'PM'}"


class Catalog:
    """All simulated events, generated on demand and cached per (series, k)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        window_seconds: float = 10,
        series: tuple[str, ...] = DEFAULT_SERIES,
        prelist: int = 6,
        close_after_seconds: float = 3,
        close_spread_seconds: float = 0,
        same_window: bool = False,
        market_version: str = "v1",
    ) -> None:
        if market_version not in MARKET_VERSIONS:
            raise ValueError(f"market_version must be one of {', '.join(MARKET_VERSIONS)}")
        unknown = [s for s in series if s not in BTC_SERIES]
        if unknown:
            raise ValueError(f"unknown series id(s): {','.join(unknown)}; known: {','.join(BTC_SERIES)}")
        if prelist < 0:
            raise ValueError("prelist must be >= 0")
        self.seed = seed
        self.window_seconds = window_seconds
        self.series = tuple(series)
        self.prelist = prelist
        self.close_after_ms = round(close_after_seconds * 1000)
        #: Each market closes close_after + U[0, spread) after its end (deterministic per market).
        self.close_spread_ms = round(close_spread_seconds * 1000)
        self.behaviour = Behaviour()
        self.same_window = same_window
        self.market_version = market_version
        self.lengths = {s: window_ms(s, window_seconds, same_window) for s in (*self.series, DECOY_SERIES_ID)}
        self._events: dict[tuple[str, int], SimEvent] = {}
        self._tokens: dict[str, SimMarket] = {}
        self._by_id: dict[str, SimMarket] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ generation
    def event(self, series_id: str, k: int) -> SimEvent:
        key = (series_id, k)
        with self._lock:
            ev = self._events.get(key)
            if ev is None:
                ev = self._make_event(series_id, k)
                self._events[key] = ev
                for m in ev.markets:
                    self._by_id[m.market_id] = m
                    for t in m.token_ids:
                        self._tokens[t] = m
            return ev

    def market_by_id(self, market_id: str) -> SimMarket | None:
        """A market already generated (listed once), by its Gamma ``id``."""
        with self._lock:
            return self._by_id.get(market_id)

    def market_for_token(self, token_id: str) -> SimMarket | None:
        with self._lock:
            return self._tokens.get(token_id)

    def _make_event(self, series_id: str, k: int) -> SimEvent:
        seed = self.seed
        length = self.lengths[series_id]
        start, end = k * length, (k + 1) * length
        created = start - (self.prelist + 1) * length - int(unit(seed, "created", series_id, k) * length)
        closed_at = (
            end + self.close_after_ms + int(unit(seed, "closing", series_id, k) * self.close_spread_ms)
        )
        decoy = series_id == DECOY_SERIES_ID
        if decoy:
            s_slug, recurrence, mult = DECOY_SERIES_SLUG, "5m", 1
        else:
            s_slug, recurrence, mult = BTC_SERIES[series_id]
        real_len = _REAL_5M_MS * mult
        if length == real_len:
            vstart = datetime.fromtimestamp(start / 1000, UTC)
        else:  # compressed: a virtual time on the real grid, for titles and ET slugs
            per_cycle = _VIRTUAL_CYCLE * 86_400_000 // real_len
            vstart = _VIRTUAL_ORIGIN + timedelta(milliseconds=(k % per_cycle) * real_len)
        vend = vstart + timedelta(milliseconds=real_len)
        start_s = start // 1000
        month, day, year, hour = _et_parts(vstart)
        old_form = unit(seed, "oldslug", series_id, k) < 0.4
        asset = "Ethereum" if decoy else "Bitcoin"
        if decoy:
            slug = f"eth-updown-5m-{start_s}"
        elif recurrence == "hourly":
            slug = (
                f"bitcoin-up-or-down-{month}-{day}-{hour}-et"
                if old_form
                else f"bitcoin-up-or-down-{month}-{day}-{year}-{hour}-et"
            )
        elif recurrence == "daily":
            slug = (
                f"bitcoin-up-or-down-on-{month}-{day}"
                if old_form
                else f"bitcoin-up-or-down-on-{month}-{day}-{year}"
            )
        else:
            slug = f"btc-updown-{recurrence}-{start_s}"
        if recurrence == "daily":
            title = f"{asset} Up or Down on {month.capitalize()} {day}?"
        elif recurrence == "hourly":
            title = f"{asset} Up or Down - {month.capitalize()} {day}, {hour.upper()} ET"
        else:
            title = (
                f"{asset} Up or Down - {month.capitalize()[:3]} {day}, "
                f"{_clock_label(vstart)}-{_clock_label(vend)} ET"
            )
        event_id = str(100_000 + int.from_bytes(digest(seed, "event", series_id, k)[:4], "big") % 899_900_000)
        # the window's times, the same for the event and each of its markets
        times = {"start_ms": start, "end_ms": end, "created_ms": created, "closed_at_ms": closed_at}
        kinds = [("decoy" if decoy else "btc", slug)]
        if not decoy and unit(seed, "malformed", series_id, k) < MALFORMED_SHARE:
            kinds.append(("malformed", slug + "-flat"))
        markets = [
            self._make_market(kind, series_id, k, slug=market_slug, question=title, times=times)
            for kind, market_slug in kinds
        ]
        return SimEvent(
            series_id=series_id,
            series_slug=s_slug,
            recurrence=recurrence,
            k=k,
            event_id=event_id,
            slug=slug,
            title=title,
            markets=tuple(markets),
            **times,
        )

    def _make_market(
        self,
        kind: str,
        series_id: str,
        k: int,
        *,
        slug: str,
        question: str,
        times: dict[str, int],
    ) -> SimMarket:
        seed = self.seed
        outcomes: list[str] = ["Up", "Down", "Flat"] if kind == "malformed" else ["Up", "Down"]
        tokens = [str(int.from_bytes(digest(seed, "token", kind, series_id, k, o), "big")) for o in outcomes]
        version, legacy = self.version_of(k), []
        if version == "v2":  # position ids; the v1 ids become the trap (no book) on every other window
            legacy = tokens if (k // (2 if self.market_version == "mixed" else 1)) % 2 == 0 else []
            tokens = [
                str(int.from_bytes(digest(seed, "position", kind, series_id, k, o), "big")) for o in outcomes
            ]
        rev = kind != "malformed" and unit(seed, "reversed", series_id, k) < REVERSED_SHARE
        if rev:
            outcomes.reverse()
            tokens.reverse()
            legacy.reverse()
        winner = "Up" if unit(seed, "winner", series_id, k) < 0.5 else "Down"
        mid = 1_000_000 + int.from_bytes(digest(seed, "market", kind, series_id, k)[:4], "big") % 8_999_000
        return SimMarket(
            kind=kind,
            series_id=series_id,
            k=k,
            market_id=str(mid),
            slug=slug,
            question=question,
            condition_id="0x" + digest(seed, "condition", kind, series_id, k).hex(),
            question_id="0x" + digest(seed, "question", kind, series_id, k).hex(),
            outcomes=tuple(outcomes),
            token_ids=tuple(tokens),
            reversed=rev,
            winner=winner,
            version=version,
            legacy_ids=tuple(legacy),
            **times,
        )

    def version_of(self, k: int) -> str:
        """Window *k*'s ``version``: "" (none: v1), or "v1"/"v2" by parity under "mixed"."""
        if self.market_version == "mixed":
            return "v2" if k % 2 else "v1"
        return "v2" if self.market_version == "v2" else ""

    # ------------------------------------------------------------ queries
    def current_index(self, series_id: str, now_ms: int) -> int:
        return now_ms // self.lengths[series_id]

    def prelist_of(self, series_id: str) -> int:
        """Windows listed ahead: ``prelist``, or about a day's worth with ``behaviour.full_day``."""
        if not self.behaviour.full_day:
            return self.prelist
        mult = 1 if series_id == DECOY_SERIES_ID or self.same_window else BTC_SERIES[series_id][2]
        return max(1, 288 // mult)

    def open_events(self, series_id: str, now_ms: int) -> list[SimEvent]:
        """Events with closed=false at now: not yet closed, up to ``prelist_of`` windows ahead."""
        length = self.lengths[series_id]
        k_now = now_ms // length
        first = (now_ms - self.close_after_ms - self.close_spread_ms) // length - 1
        events = [self.event(series_id, k) for k in range(first, k_now + self.prelist_of(series_id) + 1)]
        return [e for e in events if now_ms < e.closed_at_ms]

    def stale_events(self, series_id: str, now_ms: int) -> list[SimEvent]:
        """``behaviour.stale_open`` ended events still listed ``closed: false`` (their books are gone)."""
        count = self.behaviour.stale_open
        if not count:
            return []
        length = self.lengths[series_id]
        first = (now_ms - self.close_after_ms - self.close_spread_ms) // length - 1
        out = []
        for k in range(first - count, first):
            ev = self.event(series_id, k)
            markets = tuple(dataclasses.replace(m, closed_at_ms=_NEVER) for m in ev.markets)
            out.append(dataclasses.replace(ev, closed_at_ms=_NEVER, markets=markets))
        return out

    def closed_events(self, series_id: str, now_ms: int) -> list[SimEvent]:
        length = self.lengths[series_id]
        last = (now_ms - self.close_after_ms) // length
        events = [self.event(series_id, k) for k in range(last - CLOSED_HISTORY, last + 1)]
        return [e for e in events if now_ms >= e.closed_at_ms]

    def listing(self, series_ids: list[str] | None, closed: bool, now_ms: int) -> list[SimEvent]:
        """The events an ``/events`` query returns before ordering and paging.

        ``series_ids`` None means no recognised series filter: a mix of every
        series plus decoys, like the real API answering a misspelt parameter.
        """
        if closed:
            pick = self.closed_events
        else:

            def pick(sid: str, now: int) -> list[SimEvent]:
                return [*self.stale_events(sid, now), *self.open_events(sid, now)]

        if self.behaviour.ignore_series_id and series_ids is not None:
            return pick(DECOY_SERIES_ID, now_ms)  # unrelated events only, whatever was asked
        if series_ids is None:
            chosen = [*self.series, DECOY_SERIES_ID]
            return [e for s in chosen for e in pick(s, now_ms)]
        out: list[SimEvent] = []
        for sid in series_ids:
            if sid == DECOY_SERIES_ID:
                out.extend(pick(sid, now_ms))
            elif sid in self.series:
                out.extend(pick(sid, now_ms))
                if sid in DECOY_HOSTS and not closed:
                    out.extend(e for e in pick(DECOY_SERIES_ID, now_ms) if e.k % 2 == 0)
        return out

    def markets_between(
        self, start_ms: int, end_ms: int, kinds: tuple[str, ...] = ("btc",)
    ) -> list[SimMarket]:
        """Markets of every configured series whose window overlaps [start_ms, end_ms)."""
        out: list[SimMarket] = []
        for sid in (*self.series, DECOY_SERIES_ID):
            length = self.lengths[sid]
            first, last = start_ms // length, (end_ms - 1) // length
            if last - first > 100_000:
                raise ValueError("range too long")
            for k in range(first, last + 1):
                out.extend(m for m in self.event(sid, k).markets if m.kind in kinds)
        return sorted(out, key=lambda m: (m.start_ms, m.series_id, m.kind))

    def prune(self, now_ms: int, keep_windows: int = 200) -> None:
        """Forget events long closed (bounded memory in long runs)."""
        with self._lock:
            old = [
                key
                for key, ev in self._events.items()
                if ev.closed_at_ms < now_ms - keep_windows * self.lengths[key[0]]
            ]
            for key in old:
                for m in self._events.pop(key).markets:
                    self._by_id.pop(m.market_id, None)
                    for t in m.token_ids:
                        self._tokens.pop(t, None)
