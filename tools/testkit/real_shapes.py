"""Shapes of the real recorded payloads under tests/fixtures/real/.

A *shape* maps each key of an object to the set of value kinds seen for it in
the real payloads. A kind tells apart what matters to a parser: ``bool``,
``number``, ``null``, ``object``, ``list``, and for strings ``decimal-string``
(a number sent as a string, e.g. ``"0.280"``), ``json-list-string`` (JSON inside
a JSON string, e.g. ``clobTokenIds``), ``empty-string`` and ``string``.

``disagreements(obj, shape)`` lists where another payload (the simulator's)
disagrees with the real shape: a key the real payloads have with a kind they
never show. Keys only one side has are not compared (real fixtures are
trimmed by their authors; the simulator may send more).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REAL_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "real"
_DECIMAL = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")

Shape = dict[str, set[str]]


def load(name: str) -> Any:
    return json.loads((REAL_DIR / name).read_bytes())


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if value == "":
        return "empty-string"
    if _DECIMAL.match(value):
        return "decimal-string"
    if value.startswith("["):
        try:
            if isinstance(json.loads(value), list):
                return "json-list-string"
        except ValueError:
            pass
    return "string"


def shape_of(objects: Iterable[dict[str, Any]]) -> Shape:
    shape: Shape = defaultdict(set)
    for obj in objects:
        for key, value in obj.items():
            shape[key].add(kind(value))
    return dict(shape)


def _compatible(got: str, seen: set[str]) -> bool:
    if got in seen:
        return True
    # A decimal is still text; a string-encoded decimal may be "" (last_trade_price is
    # "" before the first trade and "0.280" after: both are real, the fixtures show "").
    decimal_or_empty = {"decimal-string", "empty-string"}
    if "string" in seen and got in decimal_or_empty:
        return True
    return got in decimal_or_empty and bool(seen & decimal_or_empty)


def disagreements(obj: dict[str, Any], shape: Shape, where: str) -> list[str]:
    out = []
    for key, seen in shape.items():
        if key in obj and not _compatible(kind(obj[key]), seen):
            out.append(f"{where}.{key} is {kind(obj[key])}, real payloads send {sorted(seen)}")
    return out


# ---------------------------------------------------------------- the real shapes

GAMMA_EVENT_FILES = (
    "gamma-event-btc-updown-5m-1778584200.json",
    "gamma-event-btc-updown-5m-1786844100.json",
)
GAMMA_EVENTS_FILES = ("gamma-events-btc-updown-5m-1784439600.json",)
#: Closed, resolved events kept in their author's capture file: the answer is under "response".
GAMMA_CLOSED_EVENT_CAPTURES = (
    "gamma-event-closed-btc-updown-5m-1790617500.json",
    "gamma-event-closed-btc-updown-15m-1790616600.json",
)
BOOK_FILES = ("clob-book-1786844232261.json",)
WS_BOOK_FILES = ("ws-book-frames-1775740020016.json",)


def real_closed_events() -> list[dict[str, Any]]:
    return [load(name)["response"] for name in GAMMA_CLOSED_EVENT_CAPTURES]


def real_events() -> list[dict[str, Any]]:
    events = [load(name) for name in GAMMA_EVENT_FILES]
    for name in GAMMA_EVENTS_FILES:
        events.extend(load(name))
    return events + real_closed_events()


def real_books() -> list[dict[str, Any]]:
    books = [load(name) for name in BOOK_FILES]
    for name in WS_BOOK_FILES:
        books.extend(load(name))
    return books


def event_shapes() -> tuple[Shape, Shape, Shape]:
    """(event, market, series) shapes over every real Gamma event."""
    events = real_events()
    markets = [m for e in events for m in e.get("markets", [])]
    series = [s for e in events for s in e.get("series", [])]
    return shape_of(events), shape_of(markets), shape_of(series)


def closed_market_shape() -> Shape:
    """The shape of every real closed, resolved market object (``closed: true``, 1/0 prices)."""
    return shape_of(m for e in real_closed_events() for m in e["markets"])


def book_shapes() -> tuple[Shape, Shape]:
    """(book, level) shapes over every real book (REST and websocket ``book`` frames)."""
    books = real_books()
    levels = [lvl for b in books for side in ("bids", "asks") for lvl in b.get(side, [])]
    return shape_of(books), shape_of(levels)


def event_disagreements(event: dict[str, Any]) -> list[str]:
    ev_shape, market_shape, series_shape = event_shapes()
    out = disagreements(event, ev_shape, "event")
    for i, market in enumerate(event.get("markets") or []):
        out += disagreements(market, market_shape, f"event.markets[{i}]")
    for i, series in enumerate(event.get("series") or []):
        out += disagreements(series, series_shape, f"event.series[{i}]")
    return out


def closed_market_disagreements(market: dict[str, Any]) -> list[str]:
    return disagreements(market, closed_market_shape(), "market")


def book_disagreements(book: dict[str, Any]) -> list[str]:
    book_shape, level_shape = book_shapes()
    out = disagreements(book, book_shape, "book")
    for side in ("bids", "asks"):
        for i, level in enumerate(book.get(side) or []):
            out += disagreements(level, level_shape, f"book.{side}[{i}]")
    return out
