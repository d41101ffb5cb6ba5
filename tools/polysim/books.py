"""Order books that evolve on their own, with CLOB-faithful wire form.

Each token's book follows a deterministic sequence of changes (seeded by the
simulator seed and the token id), one change every 1-3 s of simulator time,
starting two minutes before its window opens. A book is advanced lazily to
the query time, so its content depends only on (seed, token, time), never on
who asked when. ``timestamp`` is the time of the last change and ``hash`` is
recomputed only when the content changed: two reads between changes return
the same pair.

Wire form (facts file section 2.2): field order ``market, asset_id,
timestamp, hash, bids, asks, min_order_size, tick_size, neg_risk,
last_trade_price``; prices and sizes are strings, not always normalised
(``"0.10"``, ``"0.280"``, ``"0.1"``); bids ascending and asks descending, so
the best levels are last; no duplicate or zero-size levels. ``hash`` is the
SHA-1 of the compact JSON in that order with ``hash`` set to ``""``.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from polysim.markets import Catalog, SimMarket, digest

#: Evolution starts this long before the window opens (static book before).
WARMUP_MS = 120_000
#: Inter-change delay range per token, ms.
CHANGE_MIN_MS = 1_000
CHANGE_MAX_MS = 3_000
#: In the last share of the window the losing side's bids vanish.
ENDGAME_SHARE = 0.15
#: Deep books (``BookShape.levels``): price grid in mils (tick 0.001), one change per second.
MAX_LEVELS = 99
DEEP_CHANGE_MS = 1_000


@dataclass(frozen=True)
class BookShape:
    """How deep the books are and how much changes per poll.

    ``levels=None`` keeps the default books (cent grid, 0-99 levels a side, one
    small change every 1-3 s). ``levels=N`` gives every book N levels a side on
    a 0.001 grid (real books run up to 99 a side) whose content changes every
    second, ``changes`` level sizes at a time (a poll at 1 Hz sees that many).
    """

    levels: int | None = None
    changes: int = 3

    def __post_init__(self) -> None:
        if self.levels is not None and not 1 <= self.levels <= MAX_LEVELS:
            raise ValueError(f"book levels must be 1..{MAX_LEVELS}, got {self.levels}")
        if self.changes < 1:
            raise ValueError(f"book changes per poll must be >= 1, got {self.changes}")
        if self.levels is not None and self.changes > 2 * self.levels:
            raise ValueError(f"book changes per poll ({self.changes}) exceed the levels of a book")

    def to_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "changes": self.changes}


def book_hash(book: dict[str, Any]) -> str:
    """The server-compatible hash: SHA-1 of compact JSON in wire order with hash ""."""
    return hashlib.sha1(orjson.dumps({**book, "hash": ""})).hexdigest()


def format_price(cents: int, style: int) -> str:
    """0.28 as "0.28" mostly, sometimes "0.280" or normalised "0.28"/"0.1"."""
    two = f"{cents / 100:.2f}"
    if style == 0:
        return f"{cents / 100:.3f}"
    if style == 1:
        return two.rstrip("0").rstrip(".") if "." in two else two
    return two


def format_size(size: float) -> str:
    text = f"{size:.2f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass
class _TokenBook:
    market: SimMarket
    token_id: str
    outcome: str
    rng: random.Random
    bid_top: int  # best bid, cents
    ask_top: int  # best ask, cents
    bids: dict[int, float] = field(default_factory=dict)
    asks: dict[int, float] = field(default_factory=dict)
    last_trade: str = ""
    t_ms: int = 0  # time of the last change
    next_ms: int = 0  # time of the next change
    wire: dict[str, Any] = field(default_factory=dict)


class BookEngine:
    def __init__(self, catalog: Catalog, shape: BookShape | None = None) -> None:
        self.catalog = catalog
        self.seed = catalog.seed
        self.shape = shape or BookShape()
        self._books: dict[str, _TokenBook] = {}
        self._lock = threading.Lock()

    def opens_at(self, market: SimMarket) -> int:
        """A book exists from the listing on, or only from the window start (``book_at_start``)."""
        return market.start_ms if self.catalog.behaviour.book_at_start else market.created_ms

    def closed_at(self, market: SimMarket) -> int:
        """The CLOB's 404 starts when Gamma closes the market, shifted by ``clob_lag_seconds``."""
        return market.closed_at_ms + round(self.catalog.behaviour.clob_lag_seconds * 1000)

    def book(self, token_id: str, now_ms: int) -> dict[str, Any] | None:
        """The book as the CLOB would send it at now_ms, or None (unknown, closed, no book)."""
        market = self.catalog.market_for_token(token_id)
        if market is None or not market.has_book or now_ms >= self.closed_at(market):
            return None
        if now_ms < self.opens_at(market):
            return None
        with self._lock:
            tb = self._books.get(token_id)
            if tb is None:
                tb = self._new(market, token_id)
                self._books[token_id] = tb
            self._advance(tb, now_ms)
            return tb.wire

    def set_shape(self, shape: BookShape) -> None:
        """New depth and change rate; books are rebuilt on their next read."""
        with self._lock:
            self.shape = shape
            self._books.clear()

    def forget_closed(self, now_ms: int) -> None:
        with self._lock:
            for t in [t for t, b in self._books.items() if now_ms >= self.closed_at(b.market)]:
                del self._books[t]

    # ------------------------------------------------------------ evolution
    def _new(self, market: SimMarket, token_id: str) -> _TokenBook:
        if self.shape.levels is not None:
            return self._new_deep(market, token_id, self.shape.levels)
        rng = random.Random(digest(self.seed, "book", token_id))
        outcome = market.outcome_of(token_id)
        bid_top = rng.randint(30, 60)
        tb = _TokenBook(
            market=market,
            token_id=token_id,
            outcome=outcome,
            rng=rng,
            bid_top=bid_top,
            ask_top=bid_top + rng.randint(1, 3),
        )
        for c in range(1, tb.bid_top + 1):
            if c in (tb.bid_top, 1) or rng.random() < 0.4:
                tb.bids[c] = self._size(rng)
        for c in range(tb.ask_top, 100):
            if c in (tb.ask_top, 99) or rng.random() < 0.4:
                tb.asks[c] = self._size(rng)
        tb.last_trade = "" if rng.random() < 0.3 else self._price(tb, tb.ask_top)
        start = max(market.created_ms, market.start_ms - WARMUP_MS)
        tb.t_ms = start
        tb.next_ms = start + rng.randint(CHANGE_MIN_MS, CHANGE_MAX_MS)
        self._render(tb)
        return tb

    def _new_deep(self, market: SimMarket, token_id: str, levels: int) -> _TokenBook:
        """A book of *levels* levels a side on the 0.001 grid (keys are mils)."""
        rng = random.Random(digest(self.seed, "deep-book", token_id, levels))
        bid_top = rng.randint(max(levels, 300), 600)
        tb = _TokenBook(
            market=market,
            token_id=token_id,
            outcome=market.outcome_of(token_id),
            rng=rng,
            bid_top=bid_top,
            ask_top=bid_top + rng.randint(1, 30),
        )
        tb.ask_top = min(tb.ask_top, 1000 - levels)
        tb.bids = {tb.bid_top - k: self._size(rng) for k in range(levels)}
        tb.asks = {tb.ask_top + k: self._size(rng) for k in range(levels)}
        tb.last_trade = format_price_mils(tb.ask_top)
        start = max(market.created_ms, market.start_ms - WARMUP_MS)
        tb.t_ms = start
        tb.next_ms = start + DEEP_CHANGE_MS
        self._render(tb)
        return tb

    def _advance(self, tb: _TokenBook, now_ms: int) -> None:
        if self.shape.levels is not None:
            self._advance_deep(tb, now_ms)
            return
        while tb.next_ms <= now_ms:
            t = tb.next_ms
            before = self._content(tb)
            self._mutate(tb, t)
            if self._content(tb) != before:  # timestamp and hash move only on a visible change
                tb.t_ms = t
                self._render(tb)
            tb.next_ms = t + tb.rng.randint(CHANGE_MIN_MS, CHANGE_MAX_MS)

    def _advance_deep(self, tb: _TokenBook, now_ms: int) -> None:
        """Every second exactly ``shape.changes`` level sizes change (the depth stays)."""
        changed = False
        while tb.next_ms <= now_ms:
            rng = tb.rng
            keys = [("b", c) for c in tb.bids] + [("a", c) for c in tb.asks]
            for side, c in rng.sample(keys, self.shape.changes):
                book_side = tb.bids if side == "b" else tb.asks
                old = book_side[c]
                while book_side[c] == old:
                    book_side[c] = self._size(rng)
            if rng.random() < 0.2:
                tb.last_trade = format_price_mils(rng.choice((tb.bid_top, tb.ask_top)))
            tb.t_ms = tb.next_ms
            tb.next_ms += DEEP_CHANGE_MS
            changed = True
        if changed:
            self._render(tb)

    def _content(self, tb: _TokenBook) -> tuple[Any, ...]:
        return (sorted(tb.bids.items()), sorted(tb.asks.items()), tb.last_trade)

    @staticmethod
    def _size(rng: random.Random) -> float:
        r = rng.random()
        if r < 0.3:
            return float(rng.choice((5, 10, 20, 25, 50, 100)))
        if r < 0.6:
            return round(rng.uniform(5, 1000), 1)
        return round(rng.uniform(5, 15000), 2)

    def _price(self, tb: _TokenBook, cents: int) -> str:
        u = int.from_bytes(digest(self.seed, "fmt", tb.token_id, cents)[:2], "big") % 10
        return format_price(cents, 0 if u == 0 else 1 if u == 1 else 2)

    def _mutate(self, tb: _TokenBook, t_ms: int) -> None:
        rng = tb.rng
        m = tb.market
        endgame = t_ms >= m.end_ms - (m.end_ms - m.start_ms) * ENDGAME_SHARE
        if endgame and tb.outcome != m.winner:
            tb.bids.clear()  # the loser side's bids vanish near the end
            if rng.random() < 0.5:
                tb.last_trade = ""
            return
        r = rng.random()
        if r < 0.3:  # the top moves by one tick
            step = rng.choice((-1, 1))
            if tb.bid_top + step >= 1 and tb.ask_top + step <= 99:
                tb.bid_top += step
                tb.ask_top += step
            tb.bids = {c: s for c, s in tb.bids.items() if c <= tb.bid_top}
            tb.asks = {c: s for c, s in tb.asks.items() if c >= tb.ask_top}
            tb.bids.setdefault(tb.bid_top, self._size(rng))
            tb.asks.setdefault(tb.ask_top, self._size(rng))
        elif r < 0.5:  # a level appears or goes
            side = tb.bids if rng.random() < 0.5 else tb.asks
            lo, hi = (1, tb.bid_top) if side is tb.bids else (tb.ask_top, 99)
            c = rng.randint(lo, hi)
            if c in side and c not in (tb.bid_top, tb.ask_top) and len(side) > 1:
                del side[c]
            else:
                side[c] = self._size(rng)
        else:  # sizes change
            for _ in range(rng.randint(1, 3)):
                side = tb.bids if rng.random() < 0.5 else tb.asks
                if not side:
                    side = tb.asks if side is tb.bids else tb.bids
                if not side:
                    break
                c = rng.choice(sorted(side))
                side[c] = self._size(rng)
        if not tb.bids and not endgame:
            tb.bids[tb.bid_top] = self._size(rng)
        if rng.random() < 0.3:
            tb.last_trade = self._price(tb, rng.choice((tb.bid_top, tb.ask_top)))

    def _render(self, tb: _TokenBook) -> None:
        deep = self.shape.levels is not None
        price = format_price_mils if deep else (lambda c: self._price(tb, c))
        book: dict[str, Any] = {
            "market": tb.market.condition_id,
            "asset_id": tb.token_id,
            "timestamp": str(tb.t_ms),
            "hash": "",
            "bids": [{"price": price(c), "size": format_size(tb.bids[c])} for c in sorted(tb.bids)],
            "asks": [
                {"price": price(c), "size": format_size(tb.asks[c])} for c in sorted(tb.asks, reverse=True)
            ],
            "min_order_size": "5",
            "tick_size": "0.001" if deep else "0.01",
            "neg_risk": False,
            "last_trade_price": tb.last_trade,
        }
        book["hash"] = book_hash(book)
        tb.wire = book


def format_price_mils(mils: int) -> str:
    """0.281 as "0.281"; whole cents as the CLOB sends them, "0.28"."""
    text = f"{mils / 1000:.3f}"
    return text[:-1] if text.endswith("0") else text
