"""Contract: the simulator answers in the shapes the real recorded payloads have.

The shapes (keys and value kinds: bool, number, decimal string, JSON-in-JSON
string, ...) come from tests/fixtures/real/ through real_shapes; a simulator
that drifts from them fails here, so the simulator and the collector cannot
share a wrong belief about Polymarket.
"""

from __future__ import annotations

import json

import httpx
import pytest
from polysim import start_simulator
from testkit.real_shapes import (
    book_disagreements,
    book_shapes,
    closed_market_disagreements,
    closed_market_shape,
    event_disagreements,
    event_shapes,
    kind,
    load,
)

UA = {"User-Agent": "orderbooks-tests/1"}
T0 = 1_795_000_000.0


class ManualClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def answers():
    """A page of simulated /events and the books of its open markets, fetched once."""
    with (
        start_simulator(window_seconds=10, seed=11, clock=ManualClock()) as sim,
        httpx.Client(headers=UA, timeout=5) as client,
    ):
        events = client.get(
            f"{sim.gamma_url}/events",
            params={"series_id": "10684", "closed": "false", "order": "endDate",
                    "ascending": "true", "limit": "50"},
        ).json()  # fmt: skip
        tokens = [t for e in events for m in e["markets"] for t in json.loads(m["clobTokenIds"])][:20]
        books = client.post(f"{sim.clob_url}/books", json=[{"token_id": t} for t in tokens]).json()
        single = client.get(f"{sim.clob_url}/book", params={"token_id": tokens[0]}).json()
    return events, [*books, single]


def test_the_real_shapes_say_what_the_collector_relies_on():
    _, market, series = event_shapes()
    book, level = book_shapes()
    assert market["clobTokenIds"] == {"json-list-string"}
    assert market["outcomes"] == {"json-list-string"}
    assert market["liquidity"] == {"decimal-string"}
    assert market["orderPriceMinTickSize"] == {"number"}
    assert market["enableOrderBook"] == {"bool"}
    assert series["id"] == {"decimal-string"}
    assert level == {"price": {"decimal-string"}, "size": {"decimal-string"}}
    assert book["timestamp"] == {"decimal-string"}
    assert book["last_trade_price"] == {"empty-string"}
    assert book["tick_size"] == {"decimal-string"}


def test_simulated_events_have_the_real_shapes(answers):
    events, _ = answers
    assert events
    problems = [p for e in events for p in event_disagreements(e)]
    assert problems == []


def test_simulated_markets_have_every_field_the_collector_reads(answers):
    events, _ = answers
    for event in events:
        assert {"id", "slug", "series", "markets", "endDate"} <= event.keys()
        for market in event["markets"]:
            assert {"conditionId", "outcomes", "clobTokenIds", "endDate", "enableOrderBook"} <= market.keys()
            tokens = json.loads(market["clobTokenIds"])
            assert all(kind(t) == "decimal-string" and 70 <= len(t) <= 78 for t in tokens)


def test_simulated_books_have_the_real_shapes(answers):
    _, books = answers
    assert len(books) >= 2
    problems = [p for b in books for p in book_disagreements(b)]
    assert problems == []
    for book in books:
        assert {"market", "asset_id", "timestamp", "hash", "bids", "asks"} <= book.keys()


def test_the_checker_catches_a_wrong_shape(answers):
    events, books = answers
    bad_event = json.loads(json.dumps(events[0]))
    bad_event["markets"][0]["clobTokenIds"] = json.loads(bad_event["markets"][0]["clobTokenIds"])
    bad_event["markets"][0]["liquidity"] = 12.5
    assert event_disagreements(bad_event) == [
        "event.markets[0].liquidity is number, real payloads send ['decimal-string']",
        "event.markets[0].clobTokenIds is list, real payloads send ['json-list-string']",
    ]
    bad_book = dict(books[0], bids=[{"price": 0.5, "size": "10"}], timestamp=1786844232261)
    assert book_disagreements(bad_book) == [
        "book.timestamp is number, real payloads send ['decimal-string']",
        "book.bids[0].price is number, real payloads send ['decimal-string']",
    ]


def test_simulated_closed_markets_have_the_real_closed_shape():
    """``GET /markets/{id}`` of a closed market and ``closed=true`` events, against real resolved ones."""
    with (
        start_simulator(window_seconds=10, seed=11, clock=ManualClock()) as sim,
        httpx.Client(headers=UA, timeout=5) as client,
    ):
        events = client.get(
            f"{sim.gamma_url}/events", params={"series_id": "10684", "closed": "true", "limit": "5"}
        ).json()
        answers = [client.get(f"{sim.gamma_url}/markets/{e['markets'][0]['id']}").json() for e in events]
    assert answers and all(a["closed"] is True for a in answers)
    assert closed_market_shape()["outcomePrices"] == {"json-list-string"}
    assert closed_market_shape()["closed"] == {"bool"}
    assert [p for a in answers for p in closed_market_disagreements(a)] == []
    assert [p for e in events for p in event_disagreements(e)] == []
    bad = dict(answers[0], closed="true", outcomePrices=["1", "0"])
    assert closed_market_disagreements(bad) == [
        "market.outcomePrices is list, real payloads send ['json-list-string']",
        "market.closed is string, real payloads send ['bool']",
    ]


def test_simulated_book_errors_are_the_real_bodies():
    real = load("clob-related-endpoints-2026-08-10.json")["responses"]
    with (
        start_simulator(window_seconds=10, seed=11, clock=ManualClock()) as sim,
        httpx.Client(headers=UA, timeout=5) as client,
    ):
        unknown = client.get(f"{sim.clob_url}/book", params={"token_id": "0"})
        omitted = client.get(f"{sim.clob_url}/book")
    assert (unknown.status_code, unknown.json()) == (404, real["GET /book?token_id=0 (HTTP 404)"])
    assert (omitted.status_code, omitted.json()) == (400, real["GET /book (token_id omitted, HTTP 400)"])
