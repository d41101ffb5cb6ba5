"""polysim payloads: Gamma events and CLOB books as the facts file describes them."""

from __future__ import annotations

import hashlib
import json
import re

import httpx
import orjson
import pytest
from polysim import book_hash, expected_windows, start_simulator

UA = {"User-Agent": "orderbooks-tests/1"}
T0 = 1_795_000_000.0  # a multiple of 10 s: a 5m-series window starts here
BOOK_FIELDS = [
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "min_order_size",
    "tick_size",
    "neg_risk",
    "last_trade_price",
]


class ManualClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def sim(clock):
    with start_simulator(window_seconds=10, seed=7, clock=clock) as s:
        yield s


@pytest.fixture
def client():
    with httpx.Client(headers=UA, timeout=5) as c:
        yield c


def five_minute_market(sim, t_ms):
    """The 5m-series market whose window contains t_ms."""
    return next(m for m in sim.markets_between(t_ms, t_ms + 1) if m["series"] == "10684")


def events(client, sim, **params):
    r = client.get(f"{sim.gamma_url}/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def series_events(client, sim, series_id, closed="false", **extra):
    return events(
        client, sim, series_id=series_id, closed=closed, order="endDate", ascending="true", limit=100, **extra
    )


def test_event_and_market_types_follow_the_facts_file(client, sim):
    evs = series_events(client, sim, "10684")
    btc = [e for e in evs if e["series"][0]["id"] == "10684"]
    # at T0 the previous window has ended but is not closed yet (close comes 3 s after
    # endDate): it is still listed, then the current window and 6 pre-listed ones
    assert len(btc) == 8
    for ev in btc:
        for key in ("id", "ticker", "slug", "title", "startDate", "endDate", "startTime", "seriesSlug"):
            assert isinstance(ev[key], str), key
        assert re.fullmatch(r"btc-updown-5m-\d+", ev["slug"])
        assert ev["slug"] == f"btc-updown-5m-{_epoch(ev['startTime'])}"
        market = ev["markets"][0]
        assert isinstance(market["id"], str) and market["id"].isdigit()
        assert re.fullmatch(r"0x[0-9a-f]{64}", market["conditionId"])
        assert isinstance(market["outcomes"], str) and isinstance(market["clobTokenIds"], str)
        outcomes, tokens = json.loads(market["outcomes"]), json.loads(market["clobTokenIds"])
        assert sorted(outcomes) == ["Down", "Up"] and len(tokens) == 2
        for t in tokens:
            assert isinstance(t, str) and t.isdecimal() and int(t) < 2**256
        assert market["negRisk"] is False and market["active"] is True and market["closed"] is False
        assert market["acceptingOrders"] is True and market["enableOrderBook"] is True
        assert isinstance(market["liquidity"], str) and isinstance(market["orderMinSize"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", market["eventStartTime"])
        assert market["eventStartTime"] == ev["startTime"] and market["endDate"] == ev["endDate"]
    starts = [e["startTime"] for e in btc]
    assert starts == sorted(starts)
    assert btc[0]["slug"] == f"btc-updown-5m-{int(T0) - 10}"
    assert btc[1]["slug"] == f"btc-updown-5m-{int(T0)}"


def test_series_have_their_own_window_lengths_and_hourly_slug_forms(client, sim):
    lengths = {}
    for sid, mult in (("10684", 1), ("10192", 3), ("10114", 12), ("10331", 48), ("41", 288)):
        btc = [e for e in series_events(client, sim, sid) if e["series"][0]["id"] == sid]
        m = btc[0]["markets"][0]
        start = m["eventStartTime"]
        end = m["endDate"]
        lengths[sid] = (
            _epoch(end) - _epoch(start),
            mult * 10,
        )
    assert all(got == want for got, want in lengths.values()), lengths
    span = (int(T0 * 1000), int((T0 + 40 * 120) * 1000))
    hourly = [m["slug"] for m in sim.markets_between(*span) if m["series"] == "10114"]
    with_year = [s for s in hourly if re.fullmatch(r"bitcoin-up-or-down-[a-z]+-\d+-\d{4}-\d+(am|pm)-et", s)]
    no_year = [s for s in hourly if re.fullmatch(r"bitcoin-up-or-down-[a-z]+-\d+-\d+(am|pm)-et", s)]
    assert with_year and no_year


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def test_unknown_parameters_are_ignored_and_return_unrelated_events(client, sim):
    evs = events(client, sim, seriesId="10684", closed="false", limit=100)
    series = {e["series"][0]["id"] for e in evs}
    assert {"10684", "10192", "10114", "99001"} <= series
    assert any(not e["slug"].startswith(("btc", "bitcoin")) for e in evs)


def test_decoys_and_malformed_markets_ride_along_deterministically(client, clock):
    with start_simulator(window_seconds=10, seed=7, clock=clock) as a:
        decoys = [e for e in series_events(client, a, "10684") if e["series"][0]["id"] != "10684"]
        assert decoys and all(e["slug"].startswith("eth-") for e in decoys)
        malformed = a.markets_between(int(T0 * 1000), int((T0 + 3600) * 1000), kinds=("malformed",))
        assert malformed and all(len(m["tokens"]) == 3 for m in malformed)
        listing_a = series_events(client, a, "10192")
    with start_simulator(window_seconds=10, seed=7, clock=clock) as b:
        assert series_events(client, b, "10192") == listing_a
    with start_simulator(window_seconds=10, seed=8, clock=clock) as c:
        assert series_events(client, c, "10192") != listing_a


def test_malformed_market_is_listed_with_three_outcomes_and_has_no_book(client, sim, clock):
    bad = sim.markets_between(int(T0 * 1000), int((T0 + 3600) * 1000), kinds=("malformed",))[0]
    clock.t = bad["start_ms"] / 1000
    ev = next(e for e in series_events(client, sim, bad["series"]) if e["slug"] + "-flat" == bad["slug"])
    m = next(m for m in ev["markets"] if m["slug"] == bad["slug"])
    assert len(json.loads(m["outcomes"])) == 3 == len(json.loads(m["clobTokenIds"]))
    token = next(iter(bad["tokens"]))
    assert client.get(f"{sim.clob_url}/book", params={"token_id": token}).status_code == 404


def test_token_pairs_are_sometimes_listed_down_first(client, sim):
    markets = sim.markets_between(int(T0 * 1000), int((T0 + 600) * 1000))
    rev = [m for m in markets if m["reversed"]]
    assert rev and len(rev) < len(markets)
    by_slug = {}
    for sid in ("10684", "10192"):
        for ev in series_events(client, sim, sid):
            for m in ev["markets"]:
                by_slug[m["conditionId"]] = m
    checked = 0
    for want in markets:
        got = by_slug.get(want["condition_id"])
        if got is None:
            continue
        pairs = dict(zip(json.loads(got["clobTokenIds"]), json.loads(got["outcomes"]), strict=True))
        assert pairs == want["tokens"]
        assert (json.loads(got["outcomes"])[0] == "Down") == want["reversed"]
        checked += 1
    assert checked >= 5


def test_pagination_and_closed_filter(client, sim, clock):
    everything = series_events(client, sim, "10684")
    page1 = events(client, sim, series_id="10684", order="endDate", ascending="true", limit=3, offset=0)
    page2 = events(client, sim, series_id="10684", order="endDate", ascending="true", limit=3, offset=3)
    assert page1 + page2 == everything[:6]
    assert len(events(client, sim, series_id="10684", limit=1000)) <= 100
    assert client.get(f"{sim.gamma_url}/events", params={"limit": "x"}).status_code == 422
    clock.t += 30
    closed = series_events(client, sim, "10684", closed="true")
    assert closed and all(e["closed"] and e["markets"][0]["closed"] for e in closed)
    assert all("closedTime" in e["markets"][0] for e in closed)
    assert sorted(json.loads(closed[0]["markets"][0]["outcomePrices"])) == ["0", "1"]
    assert all(not e["closed"] for e in series_events(client, sim, "10684"))


def test_book_wire_form_order_types_and_hash(client, sim, clock):
    m = five_minute_market(sim, int(T0 * 1000))
    clock.t += 4
    tokens = list(m["tokens"])
    r = client.post(f"{sim.clob_url}/books", json=[{"token_id": t} for t in tokens])
    assert r.status_code == 200
    books = r.json()
    assert [b["asset_id"] for b in books] == tokens
    raw = r.content
    for b in books:
        assert list(b) == BOOK_FIELDS
        assert b["market"] == m["condition_id"]
        assert b["timestamp"].isdigit() and int(b["timestamp"]) <= clock.t * 1000
        for key in ("min_order_size", "tick_size", "last_trade_price"):
            assert isinstance(b[key], str)
        assert b["neg_risk"] is False
        for side in ("bids", "asks"):
            for level in b[side]:
                assert list(level) == ["price", "size"]
                assert isinstance(level["price"], str) and isinstance(level["size"], str)
                assert float(level["size"]) > 0
        bid_prices = [float(x["price"]) for x in b["bids"]]
        ask_prices = [float(x["price"]) for x in b["asks"]]
        assert bid_prices == sorted(bid_prices) and len(set(bid_prices)) == len(bid_prices)
        assert ask_prices == sorted(ask_prices, reverse=True) and len(set(ask_prices)) == len(ask_prices)
        assert bid_prices[-1] < ask_prices[-1]  # best levels are the last ones (not the endgame here)
        # the facts file's formula, recomputed independently of polysim
        expected = hashlib.sha1(json.dumps({**b, "hash": ""}, separators=(",", ":")).encode()).hexdigest()
        assert b["hash"] == expected
    # the wire keeps the field order (checked on the raw bytes, not a parsed dict)
    assert raw.startswith(b'[{"market":"0x') and b'"last_trade_price":' in raw


def test_book_hash_matches_the_published_test_vector():
    book = {
        "market": "0xaabbcc",
        "asset_id": "100",
        "timestamp": "123456789",
        "hash": "",
        "bids": [{"price": "0.3", "size": "100"}, {"price": "0.4", "size": "100"}],
        "asks": [{"price": "0.6", "size": "100"}, {"price": "0.7", "size": "100"}],
        "min_order_size": "100",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "0.5",
    }
    assert book_hash(book) == "0458ea5755c9f73d64a14636fa5c36ed460ec394"


def test_timestamp_and_hash_change_only_when_the_book_changes(client, sim, clock):
    token = next(iter(five_minute_market(sim, int(T0 * 1000))["tokens"]))
    seen = []
    for _ in range(40):
        clock.t += 0.25
        b = client.get(f"{sim.clob_url}/book", params={"token_id": token}).json()
        seen.append((b["timestamp"], b["hash"], orjson.dumps({**b, "timestamp": "", "hash": ""})))
    pairs = {(ts, h) for ts, h, _ in seen}
    assert 2 < len(pairs) < len(seen)  # some reads repeat, some changed
    by_pair = {}
    for ts, h, body in seen:
        by_pair.setdefault((ts, h), set()).add(body)
    assert all(len(bodies) == 1 for bodies in by_pair.values())
    # the content differs whenever the pair differs
    assert len({body for _, _, body in seen}) == len({h for _, h, _ in seen})


def test_formatting_is_not_normalised_somewhere(client, sim, clock):
    clock.t += 5
    prices = set()
    for m in sim.markets_between(int(T0 * 1000), int(T0 * 1000) + 1):
        r = client.post(f"{sim.clob_url}/books", json=[{"token_id": t} for t in m["tokens"]])
        for b in r.json():
            prices |= {lvl["price"] for side in ("bids", "asks") for lvl in b[side]}
    assert any(re.fullmatch(r"0\.\d\d0", p) for p in prices)  # e.g. "0.280"
    assert any(re.fullmatch(r"0\.\d0", p) for p in prices)  # e.g. "0.10"


def test_404_after_close_and_left_out_of_books(client, sim, clock):
    m = five_minute_market(sim, int(T0 * 1000))
    token = next(iter(m["tokens"]))
    clock.t = m["end_ms"] / 1000 + 1  # ended, not yet closed: trading goes on
    assert client.get(f"{sim.clob_url}/book", params={"token_id": token}).status_code == 200
    clock.t = m["closed_at_ms"] / 1000
    r = client.get(f"{sim.clob_url}/book", params={"token_id": token})
    assert r.status_code == 404
    assert r.json() == {"error": "No orderbook exists for the requested token id"}
    assert len(r.content) == 59  # as measured on the real API (newline-terminated)
    other = sim.markets_between(int(clock.t * 1000), int(clock.t * 1000) + 1)[0]
    both = [{"token_id": token}, {"token_id": next(iter(other["tokens"]))}]
    books = client.post(f"{sim.clob_url}/books", json=both).json()
    assert [b["asset_id"] for b in books] == [both[1]["token_id"]]


def test_bad_requests(client, sim):
    assert client.get(f"{sim.clob_url}/book").json() == {"error": "Invalid token id"}
    assert client.get(f"{sim.clob_url}/book", params={"token_id": "abc"}).status_code == 400
    assert client.get(f"{sim.clob_url}/book", params={"token_id": "0"}).status_code == 404
    for body in (b"{", b'{"token_id":"1"}', b'[{"id":"1"}]', b"[1]"):
        r = client.post(f"{sim.clob_url}/books", content=body)
        assert (r.status_code, r.json()) == (400, {"error": "Invalid payload"})
    assert client.post(f"{sim.clob_url}/books", json=[{"token_id": "1"}]).json() == []


@pytest.mark.parametrize("agent", ["Python-urllib/3.11", None])
def test_default_python_user_agent_gets_cloudflare_1010(sim, agent):
    import urllib.error
    import urllib.request

    url = f"{sim.clob_url}/book?token_id=1"
    if agent is None:
        with httpx.Client() as c:
            r = c.get(url, headers={"User-Agent": ""})
            assert (r.status_code, r.text) == (403, "error code: 1010")
        return
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 403 and err.value.read() == b"error code: 1010"
    r = httpx.get(f"{sim.gamma_url}/events", headers={"User-Agent": agent})
    assert r.status_code == 403


def test_expected_windows_and_markets_between_agree(sim):
    start, end = int(T0 * 1000), int((T0 + 60) * 1000)
    windows = expected_windows("10684", start, end, window_seconds=10)
    assert windows[0] == (start, start + 10_000) and len(windows) == 6
    got = [(m["start_ms"], m["end_ms"]) for m in sim.markets_between(start, end) if m["series"] == "10684"]
    assert got == windows
    assert len(expected_windows("10192", start, end, window_seconds=10)) == 3  # T0 is not 30 s aligned
    assert len(expected_windows("10192", start, end, window_seconds=10, same_window=True)) == 6


def test_one_side_empties_near_the_end_of_a_window(client, sim, clock):
    markets = sim.markets_between(int(T0 * 1000), int((T0 + 100) * 1000))
    markets = [m for m in markets if m["series"] == "10684"]
    empty_sides = 0
    for m in markets:
        clock.t = m["end_ms"] / 1000 + 0.5
        books = client.post(f"{sim.clob_url}/books", json=[{"token_id": t} for t in m["tokens"]]).json()
        empty_sides += sum(1 for b in books if not b["bids"] or not b["asks"])
    assert empty_sides > 0
