"""Books: POST /books in chunks, GET /book fallback, 404 handling, validation, rows."""

import random

import httpx
import orjson
from orderbooks.api.client import ApiClient
from orderbooks.capture.books import BookFetcher, validate_book
from orderbooks.config import Settings
from orderbooks.markets.discovery import TrackedToken
from orderbooks.markets.gamma import Market
from orderbooks.records import ROW_KEYS
from testkit.fake_clock import FakeClock

NOW = 1_700_000_000_000


def market(i, end_ms=NOW + 300_000, reverse=False):
    a, b = f"{i}1", f"{i}2"
    tokens = ((b, "Down"), (a, "Up")) if reverse else ((a, "Up"), (b, "Down"))
    return Market("10684", f"m{i}", f"0xc{i}", "s", "e", NOW - 1000, end_ms, tokens)


def tracked(markets):
    return [TrackedToken(m, t, o) for m in markets for t, o in m.tokens]


def book(token, **extra):
    b = {
        "market": "0x",
        "asset_id": token,
        "timestamp": "1",
        "hash": "h",
        "bids": [{"price": "0.10", "size": "5"}],
        "asks": [{"price": "0.90", "size": "5"}],
        "unknown_field": {"kept": True},
    }
    b.update(extra)
    return b


class Exchange:
    def __init__(self, have=None, single=None):
        self.have = have  # tokens /books answers for (None = all)
        self.single = single or {}  # token -> httpx.Response for GET /book
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        if request.url.path.endswith("/books"):
            wanted = [i["token_id"] for i in orjson.loads(request.content)]
            return httpx.Response(200, json=[book(t) for t in wanted if self.have is None or t in self.have])
        token = request.url.params["token_id"]
        return self.single.get(token) or httpx.Response(200, json=book(token))


def fetcher(exchange, chunk=50, clock=None):
    clock = clock or FakeClock(wall_ms=NOW)
    settings = Settings(gamma_url="http://g", clob_url="http://c", books_chunk_size=chunk)
    client = ApiClient(settings, clock=clock, transport=httpx.MockTransport(exchange), rng=random.Random(1))
    return BookFetcher(client, clock, chunk), clock


def test_one_post_per_chunk_and_rows_paired_by_gamma_index():
    ex = Exchange()
    f, clock = fetcher(ex, chunk=3)
    tokens = tracked([market(1), market(2, reverse=True), market(3)])
    out = f.fetch(tokens, cycle=4, deadline=clock.monotonic() + 1)
    assert [r.method for r in ex.requests] == ["POST", "POST"]
    assert [len(orjson.loads(r.content)) for r in ex.requests] == [3, 3]
    assert out.failures == []
    assert len(out.rows) == 6
    by_token = {r["token_id"]: r for r in out.rows}
    assert by_token["21"]["outcome"] == "Up" and by_token["22"]["outcome"] == "Down"
    row = by_token["11"]
    assert list(row) == list(ROW_KEYS)
    assert row["book"]["unknown_field"] == {"kept": True}
    assert row["book"]["bids"][0]["price"] == "0.10"
    assert row["cycle"] == 4


def test_missing_from_batch_is_fetched_with_get_book():
    ex = Exchange(have={"11"})
    f, clock = fetcher(ex)
    out = f.fetch(tracked([market(1)]), cycle=0, deadline=clock.monotonic() + 1)
    assert [r.method for r in ex.requests] == ["POST", "GET"]
    assert ex.requests[1].url.params["token_id"] == "12"
    assert {r["token_id"] for r in out.rows} == {"11", "12"}
    assert out.failures == []


def test_404_after_the_window_is_book_closed():
    ex = Exchange(have=set(), single={"11": httpx.Response(404, json={"error": "No orderbook exists"})})
    f, clock = fetcher(ex)
    out = f.fetch(tracked([market(1, end_ms=NOW - 1)]), cycle=0, deadline=clock.monotonic() + 1)
    assert out.closed_tokens == ["11"]
    assert [x.error for x in out.failures] == ["book_closed"]
    assert [r["token_id"] for r in out.rows] == ["12"]


def test_404_before_the_window_ends_is_missing_book_and_keeps_polling():
    ex = Exchange(have=set(), single={"11": httpx.Response(404, json={"error": "No orderbook exists"})})
    f, clock = fetcher(ex)
    out = f.fetch(tracked([market(1)]), cycle=0, deadline=clock.monotonic() + 1)
    assert out.closed_tokens == []
    assert [x.error for x in out.failures] == ["missing_book"]


def test_failed_fallback_is_missing_book_after_the_request_failures():
    ex = Exchange(have={"11"}, single={"12": httpx.Response(500)})
    f, clock = fetcher(ex)
    out = f.fetch(tracked([market(1)]), cycle=0, deadline=clock.monotonic() + 5)
    errors = [x.error for x in out.failures]
    assert errors[-1] == "missing_book" and errors[:-1] == ["http_status"] * 3
    assert out.failures[-1].token_id == "12" and out.failures[-1].series == "10684"


def test_failed_batch_falls_back_to_single_books():
    def handler(request):
        if request.method == "POST":
            raise httpx.ReadError("reset")
        return httpx.Response(200, json=book(request.url.params["token_id"]))

    f, clock = fetcher(handler)
    out = f.fetch(tracked([market(1)]), cycle=0, deadline=clock.monotonic() + 5)
    assert len(out.rows) == 2
    assert {x.error for x in out.failures} == {"reset"}


def test_drifted_book_is_written_with_book_errors_and_a_schema_drift_record():
    def handler(request):
        wanted = [i["token_id"] for i in orjson.loads(request.content)]
        drifted = book(wanted[0])
        del drifted["bids"]
        return httpx.Response(200, json=[drifted, book(wanted[1], asks=[{"price": 0.9, "size": "1"}])])

    f, clock = fetcher(handler)
    out = f.fetch(tracked([market(1)]), cycle=0, deadline=clock.monotonic() + 5)
    assert len(out.rows) == 2
    assert out.rows[0]["book_errors"] == ["bids missing"]
    assert out.rows[1]["book_errors"] == ["asks[0]: price is float, expected string"]
    assert [x.error for x in out.failures] == ["schema_drift", "schema_drift"]


def test_batch_item_for_an_unrequested_token_is_not_attributed():
    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json=[book("999"), book("11")])
        return httpx.Response(200, json=book(request.url.params["token_id"]))

    f, clock = fetcher(handler)
    out = f.fetch(tracked([market(1)]), cycle=0, deadline=clock.monotonic() + 5)
    assert sorted(r["token_id"] for r in out.rows) == ["11", "12"]
    assert [x.error for x in out.failures] == ["schema_drift"]


def test_validate_book():
    assert validate_book(book("1"), "1") == []
    assert validate_book(book("2"), "1") == ["asset_id '2' is not the requested token"]
    assert validate_book([], "1") == ["book is list, expected an object"]
    assert validate_book(book("1", timestamp=1), "1") == ["timestamp is int, expected string"]
    assert validate_book(book("1", bids={}), "1") == ["bids is dict, expected a list"]
    assert validate_book(book("1", bids=[], asks=[]), "1") == []  # empty sides are legal near resolution


def test_a_refused_batch_is_bisected_to_the_bad_token_not_fetched_one_by_one():
    bad = "52"

    def handler(request):
        assert request.method == "POST", "no GET /book per token"
        wanted = [i["token_id"] for i in orjson.loads(request.content)]
        if bad in wanted:
            return httpx.Response(400, json={"error": "Invalid payload"})
        return httpx.Response(200, json=[book(t) for t in wanted])

    f, clock = fetcher(handler, chunk=50)
    tokens = tracked([market(i) for i in range(1, 9)])  # 16 tokens, one bad
    out = f.fetch(tokens, cycle=0, deadline=clock.monotonic() + 5)
    assert sorted(r["token_id"] for r in out.rows) == sorted(t.token_id for t in tokens if t.token_id != bad)
    refused = [x for x in out.failures if x.error == "missing_book"]
    assert [(x.token_id, x.endpoint) for x in refused] == [(bad, "POST /books")]
    assert out.requests <= 2 * 4 + 1  # about 2 log2(16) requests, not 16


def test_404_before_the_window_starts_is_not_open_yet_not_a_failure():
    ex = Exchange(have=set(), single={"11": httpx.Response(404, json={"error": "No orderbook exists"})})
    f, clock = fetcher(ex)
    soon = Market("10684", "m1", "0xc1", "s", "e", NOW + 5_000, NOW + 300_000, (("11", "Up"), ("12", "Down")))
    out = f.fetch(tracked([soon]), cycle=0, deadline=clock.monotonic() + 1)
    assert [r.method for r in ex.requests] == ["POST"]  # left out before the start: no GET
    assert out.failures == [] and out.rows == [] and out.closed_tokens == []


def test_a_prelisted_book_is_not_requested_before_its_window_and_a_404_while_disabled_is_no_failure():
    ex = Exchange(have=set(), single={"11": httpx.Response(404, json={"error": "No orderbook exists"})})
    f, clock = fetcher(ex)
    tokens = (("11", "Up"), ("12", "Down"))
    later = Market("10684", "m1", "0xc1", "s", "e", NOW + 5_000, NOW + 300_000, tokens, book_enabled=False)
    assert f.fetch(tracked([later]), cycle=0, deadline=clock.monotonic() + 1).requests == 0
    assert ex.requests == []
    started = Market("10684", "m1", "0xc1", "s", "e", NOW - 1, NOW + 300_000, tokens, book_enabled=False)
    out = f.fetch(tracked([started]), cycle=1, deadline=clock.monotonic() + 1)
    assert out.failures == [] and [r["token_id"] for r in out.rows] == ["12"]
