"""Simulator deep books: N levels a side, exactly K level sizes changed per second."""

from __future__ import annotations

import orjson
import pytest
from polysim import book_hash, start_simulator
from polysim.books import BookEngine, BookShape
from polysim.markets import Catalog


def sizes(book: dict) -> dict[tuple[str, str], str]:
    return {(side, lv["price"]): lv["size"] for side in ("bids", "asks") for lv in book[side]}


@pytest.mark.parametrize(("levels", "changes"), [(50, 3), (99, 1), (10, 10)])
def test_depth_and_changes_per_second(levels, changes):
    catalog = Catalog(seed=3, window_seconds=300)
    engine = BookEngine(catalog, BookShape(levels=levels, changes=changes))
    now = catalog.markets_between(1_778_580_000_000, 1_778_580_000_001, ("btc",))[0].start_ms + 5_000
    token = _token(catalog, now)
    first = dict(engine.book(token, now))
    assert len(first["bids"]) == len(first["asks"]) == levels
    assert first["tick_size"] == "0.001" and first["hash"] == book_hash(first)
    bids = [float(lv["price"]) for lv in first["bids"]]
    asks = [float(lv["price"]) for lv in first["asks"]]
    assert bids == sorted(bids) and asks == sorted(asks, reverse=True) and max(bids) < min(asks)
    second = dict(engine.book(token, now + 1000))
    before, after = sizes(first), sizes(second)
    assert before.keys() == after.keys()
    assert sum(before[k] != after[k] for k in before) == changes
    assert second["hash"] != first["hash"] and second["hash"] == book_hash(second)
    orjson.dumps(second)


def _token(catalog: Catalog, now_ms: int) -> str:
    market = next(m for m in catalog.markets_between(now_ms, now_ms + 1, ("btc",)) if m.has_book)
    return next(iter(market.describe()["tokens"]))


def test_bad_shapes_are_refused():
    for levels, changes in ((0, 1), (100, 1), (5, 11), (5, 0)):
        with pytest.raises(ValueError):
            BookShape(levels=levels, changes=changes)


def test_control_api_sets_the_shape():
    import urllib.request

    with start_simulator(window_seconds=10, seed=1) as sim:
        request = urllib.request.Request(
            sim.control_url.rstrip("/") + "/books",
            data=orjson.dumps({"levels": 40, "changes": 2}),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert orjson.loads(reply.read()) == {"ok": True, "books": {"levels": 40, "changes": 2}}
        assert sim.engine.shape == BookShape(levels=40, changes=2)
