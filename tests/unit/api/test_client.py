"""The HTTP client: classification, retries within the deadline, Retry-After, budget, failure records."""

import random

import httpx
import pytest
from orderbooks import __version__
from orderbooks.api.client import ApiClient, classify_response
from orderbooks.api.ratelimit import RequestBudget
from orderbooks.config import Settings
from orderbooks.records import ERROR_CLASSES
from testkit.fake_clock import FakeClock

SETTINGS = Settings(gamma_url="http://gamma.test", clob_url="http://clob.test/clob", max_retries=2)


def make_client(handler, clock=None, settings=SETTINGS, budget=None):
    clock = clock or FakeClock()
    client = ApiClient(
        settings, clock=clock, transport=httpx.MockTransport(handler), rng=random.Random(1), budget=budget
    )
    return client, clock


def script(*responses):
    """A handler answering with the given responses (or raising the given exceptions) in turn."""
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_success_sends_user_agent_gzip_and_decodes_json():
    handler, seen = script(httpx.Response(200, json=[{"a": "0.10"}]))
    client, clock = make_client(handler)
    res = client.post_json("clob", "/books", body=[{"token_id": "1"}], deadline=clock.monotonic() + 1)
    assert res.ok and res.data == [{"a": "0.10"}]
    assert res.failures == []
    req = seen[0]
    assert str(req.url) == "http://clob.test/clob/books"
    assert req.headers["user-agent"] == f"orderbooks/{__version__}"
    assert "gzip" in req.headers["accept-encoding"]
    assert req.headers["content-type"] == "application/json"
    assert res.recv_ms == clock.wall_ms()


def test_failed_attempt_then_success_still_leaves_a_failure_record():
    handler, seen = script(
        httpx.Response(500, json={"error": "error getting the orderbook"}), httpx.Response(200, json=[])
    )
    client, clock = make_client(handler)
    res = client.get_json("clob", "/book", params={"token_id": "1"}, deadline=clock.monotonic() + 5, cycle=7)
    assert res.ok
    assert len(seen) == 2
    (rec,) = res.failures
    assert (rec.error, rec.status, rec.cycle, rec.endpoint) == ("http_status", 500, 7, "GET /book")
    assert clock.sleeps and clock.sleeps[0] <= 0.1  # first backoff step is at most the base


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(429, json={"error": "Too Many Requests"}), "rate_limited"),
        (httpx.Response(425, json={"error": "service not ready"}), "not_ready"),
        (httpx.Response(403, text="error code: 1010"), "blocked"),
        (httpx.Response(502, json={"error": "bad gateway"}), "http_status"),
        (httpx.Response(400, json={"error": "Invalid payload"}), "http_status"),
        (httpx.Response(200, html="<!DOCTYPE html><html>Sorry, you have been blocked</html>"), "html_body"),
        (
            httpx.Response(
                200, content=b'[{"asset_id": "1", "bids": [', headers={"content-type": "application/json"}
            ),
            "bad_json",
        ),
        (httpx.Response(200, content=b"", headers={"content-type": "application/json"}), "bad_json"),
        (httpx.Response(200, json={"error": "Too Many Requests"}), "rate_limited"),
        (httpx.ReadTimeout("timed out"), "timeout"),
        (httpx.ConnectTimeout("timed out"), "timeout"),
        (httpx.ConnectError("refused"), "connect"),
        (
            httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
            "bad_json",
        ),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), "reset"),
        (httpx.ReadError("Connection reset by peer"), "reset"),
    ],
)
def test_every_failure_is_classified(response, error):
    handler, _ = script(response)
    client, clock = make_client(handler)
    res = client.get_json("clob", "/book", deadline=clock.monotonic() + 0.3)
    assert not res.ok
    assert res.error == error
    assert res.failures and all(f.error == error for f in res.failures)
    assert all(f.error in ERROR_CLASSES for f in res.failures)


def test_non_retryable_statuses_are_tried_once():
    handler, seen = script(httpx.Response(403, text="error code: 1010"))
    client, clock = make_client(handler)
    client.get_json("gamma", "/events", deadline=clock.monotonic() + 10)
    assert len(seen) == 1


def test_retries_are_bounded_by_max_retries():
    handler, seen = script(httpx.Response(500))
    client, clock = make_client(handler)
    res = client.get_json("clob", "/book", deadline=clock.monotonic() + 100)
    assert len(seen) == SETTINGS.max_retries + 1
    assert len(res.failures) == 3
    assert res.attempts == 3


def test_retries_never_push_past_the_deadline():
    def handler(request):
        clock.advance(0.2)  # each attempt takes 200 ms
        return httpx.Response(503)

    clock = FakeClock()
    client, _ = make_client(
        handler, clock, settings=Settings(max_retries=50, gamma_url="http://g", clob_url="http://c")
    )
    deadline = clock.monotonic() + 1.0
    client.get_json("clob", "/book", deadline=deadline)
    assert clock.monotonic() <= deadline


def test_retry_after_is_honoured_and_remembered_as_a_cooldown():
    handler, _seen = script(httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json=[]))
    client, clock = make_client(handler)
    start = clock.monotonic()
    res = client.get_json("clob", "/book", deadline=start + 5)
    assert res.ok
    assert clock.monotonic() - start >= 2.0  # waited at least Retry-After before retrying


def test_retry_after_longer_than_the_cycle_skips_and_cools_down():
    handler, seen = script(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=[]))
    client, clock = make_client(handler)
    res = client.get_json("clob", "/book", deadline=clock.monotonic() + 0.5)
    assert res.error == "rate_limited" and len(seen) == 1
    # The next cycle, still inside the Retry-After window, does not send at all.
    res2 = client.get_json("clob", "/book", deadline=clock.monotonic() + 0.5)
    assert len(seen) == 1
    assert res2.error == "rate_limited" and "not sent" in res2.failures[0].message
    # Gamma is another host: unaffected.
    client.get_json("gamma", "/events", deadline=clock.monotonic() + 0.5)
    assert len(seen) == 2
    clock.advance(3.0)
    assert client.get_json("clob", "/book", deadline=clock.monotonic() + 0.5).ok


def test_budget_delays_or_refuses_requests():
    handler, seen = script(httpx.Response(200, json=[]))
    budget = RequestBudget({"clob": 2}, fraction=1.0, window=10.0)
    client, clock = make_client(handler, budget=budget)
    for _ in range(2):
        assert client.get_json("clob", "/book", deadline=clock.monotonic() + 1).ok
    res = client.get_json("clob", "/book", deadline=clock.monotonic() + 1)
    assert res.error == "rate_limited" and len(seen) == 2
    res = client.get_json("clob", "/book", deadline=clock.monotonic() + 20)
    assert res.ok and len(seen) == 3
    assert clock.sleeps[-1] == pytest.approx(10.0)


def test_404_gets_the_callers_error_class_and_is_not_retried():
    handler, seen = script(
        httpx.Response(404, json={"error": "No orderbook exists for the requested token id"})
    )
    client, clock = make_client(handler)
    res = client.get_json(
        "clob", "/book", deadline=clock.monotonic() + 5, not_found_error="book_closed", token_id="9"
    )
    assert res.error == "book_closed" and res.status == 404 and len(seen) == 1
    assert res.failures[0].token_id == "9"


def test_no_time_left_sends_nothing():
    handler, seen = script(httpx.Response(200, json=[]))
    client, clock = make_client(handler)
    res = client.get_json("clob", "/book", deadline=clock.monotonic() + 0.01)
    assert res.error == "overrun" and seen == [] and res.failures == []


def test_classify_response_keeps_strings_as_strings():
    data = classify_response(
        200,
        httpx.Headers({"content-type": "application/json"}),
        b'{"price": "0.10", "n": 1, "x": "0.280"}',
        0,
    )
    assert data == {"price": "0.10", "n": 1, "x": "0.280"}


def test_decompression_bomb_on_books_is_an_oversize_failure_record_not_a_crash():
    import gzip

    bomb = gzip.compress(b"[" + b" " * (20 << 20) + b"]")  # 20 MiB decoded, a few KiB on the wire
    assert len(bomb) < 100_000
    handler, seen = script(httpx.Response(200, headers={"content-encoding": "gzip"}, content=bomb))
    client, clock = make_client(handler)
    res = client.post_json("clob", "/books", body=[{"token_id": "1"}], deadline=clock.monotonic() + 5)
    assert not res.ok and res.error == "oversize"
    assert len(seen) == 1  # not retried: the same body would come again
    assert [f.error for f in res.failures] == ["oversize"]
    assert "8388608" in res.failures[0].message


def test_other_endpoints_have_the_smaller_cap_and_the_caps_are_settings():
    big = b'{"a": "' + b"x" * (3 << 20) + b'"}'
    handler, _ = script(httpx.Response(200, content=big))
    client, clock = make_client(handler)
    res = client.get_json("clob", "/book", params={"token_id": "1"}, deadline=clock.monotonic() + 5)
    assert res.error == "oversize" and "2097152" in res.message
    roomy = Settings(gamma_url="http://gamma.test", clob_url="http://clob.test/clob", max_body_bytes=4 << 20)
    client, clock = make_client(script(httpx.Response(200, content=big))[0], settings=roomy)
    assert client.get_json("clob", "/book", deadline=clock.monotonic() + 5).ok
    assert "oversize" in ERROR_CLASSES


class Trickle(httpx.SyncByteStream):
    """A body that arrives a byte at a time; every byte moves the fake clock on."""

    def __init__(self, body: bytes, clock: FakeClock, seconds_per_byte: float) -> None:
        self.body, self.clock, self.seconds = body, clock, seconds_per_byte
        self.sent = 0

    def __iter__(self):
        for i in range(len(self.body)):
            self.clock.advance(self.seconds)
            self.sent += 1
            yield self.body[i : i + 1]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_trickling_body_ends_as_a_timeout_at_the_exchange_limit(gzipped):
    """Each byte comes well inside the read timeout, yet the whole exchange has a
    limit; a gzip decoder that holds the trickle back does not hide it."""
    import gzip

    payload = b'[{"asset_id": "1", "bids": [], "asks": []}]' * 40
    body = gzip.compress(payload) if gzipped else payload
    headers = {"content-encoding": "gzip"} if gzipped else {}
    streams: list[Trickle] = []
    clock = FakeClock()

    def handler(request):
        streams.append(Trickle(body, clock, 0.5))
        return httpx.Response(200, headers=headers, stream=streams[-1])

    client, _ = make_client(handler, clock=clock)
    limit = client.exchange_limit()
    res = client.post_json("clob", "/books", body=[{"token_id": "1"}], deadline=clock.monotonic() + 60)
    assert not res.ok and {f.error for f in res.failures} == {"timeout"}
    assert "whole exchange" in res.failures[0].message
    # It stopped reading near the limit, not after the whole body (len(body) x 0.5 s).
    assert streams[0].sent <= limit / 0.5 + 1 < len(body)


def test_a_body_inside_the_exchange_limit_is_read_whole():
    clock = FakeClock()
    body = b'{"ok": true}'

    def handler(request):
        return httpx.Response(200, stream=Trickle(body, clock, 0.01))

    client, _ = make_client(handler, clock=clock)
    assert client.get_json("clob", "/book", deadline=clock.monotonic() + 60).data == {"ok": True}
