"""polysim behaviours: keyset cursors, offset sunset, stale and pre-listed events, refused batches."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest
from polysim import book_hash, start_simulator
from test_polysim_payloads import ManualClock

UA = {"User-Agent": "orderbooks-tests/1"}
T0 = 1_795_000_002.0  # 2 s into a 10 s window of the 5m series


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def sim(clock):
    with start_simulator(window_seconds=10, seed=3, series=("10684",), clock=clock) as handle:
        yield handle


def get(sim, path, **params):
    return httpx.get(sim.gamma_url + path, params=params, headers=UA, timeout=10)


def keyset_all(sim, **params):
    pages, cursor = [], None
    while True:
        query = dict(params, **({"after_cursor": cursor} if cursor else {}))
        answer = get(sim, "/events/keyset", **query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["events"])
        cursor = body.get("next_cursor")
        if cursor is None:
            return pages


def test_keyset_pages_with_an_opaque_cursor_and_none_on_the_last_page(sim):
    sim.set_behaviour(full_day=True)
    query = {"series_id": "10684", "closed": "false", "order": "endDate", "ascending": "true", "limit": 100}
    pages = keyset_all(sim, **query)
    events = [e for page in pages for e in page]
    assert len(pages) >= 3 and len(events) >= 288  # a day of 5m windows
    ends = [e["endDate"] for e in events]
    assert ends == sorted(ends) and len({e["id"] for e in events}) == len(events)
    cursor = get(sim, "/events/keyset", **query).json()["next_cursor"]
    assert get(sim, "/events/keyset", **query, after_cursor=cursor[:-2] + "AA").status_code == 422
    assert get(sim, "/events/keyset", **dict(query, series_id="41"), after_cursor=cursor).status_code == 422
    assert get(sim, "/events/keyset", **query, offset=0).status_code == 422


def test_offset_sunset_and_keyset_switched_off(sim):
    sim.set_behaviour(offset_sunset=True)
    assert get(sim, "/events", series_id="10684", offset=0).status_code == 422
    assert get(sim, "/events", series_id="10684").status_code == 200
    sim.set_behaviour(keyset=False)
    assert get(sim, "/events/keyset", series_id="10684").status_code == 404


def ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_stale_open_events_come_first_and_end_date_min_removes_them(sim, clock):
    sim.set_behaviour(stale_open=1200)
    now_ms = int(clock.t * 1000)
    query = {"series_id": "10684", "closed": "false", "order": "endDate", "ascending": "true", "limit": 500}
    first = get(sim, "/events/keyset", **query).json()["events"]
    assert len(first) == 500 and all(e["closed"] is False for e in first)
    assert all(ms(e["endDate"]) < now_ms - 60_000 for e in first)  # all ended long ago, still "open"
    floor = datetime.fromtimestamp(clock.t - 5, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    live = [e for p in keyset_all(sim, **query, end_date_min=floor) for e in p]
    assert live and all(ms(e["endDate"]) >= now_ms - 5_000 for e in live)
    assert any(ms(e["startTime"]) <= now_ms < ms(e["endDate"]) for e in live)  # the current window


def test_book_at_start_lists_enable_order_book_false_and_opens_the_book_at_the_start(sim, clock):
    sim.set_behaviour(book_at_start=True)
    events = get(sim, "/events", series_id="10684", closed="false", order="endDate", ascending="true").json()
    market = next(m for e in events for m in e["markets"] if m["enableOrderBook"] is False)
    assert "acceptingOrders" not in market and ms(market["eventStartTime"]) > clock.t * 1000
    token = orjson.loads(market["clobTokenIds"])[0]
    assert httpx.get(sim.clob_url + "/book", params={"token_id": token}, headers=UA).status_code == 404
    clock.t = ms(market["eventStartTime"]) / 1000
    assert httpx.get(sim.clob_url + "/book", params={"token_id": token}, headers=UA).status_code == 200


def test_a_refused_token_refuses_the_whole_batch(sim):
    sim.set_behaviour(refuse_share=1.0)
    events = get(sim, "/events", series_id="10684", closed="false").json()
    tokens = [t for e in events for t in orjson.loads(e["markets"][0]["clobTokenIds"])]
    body = [{"token_id": t} for t in tokens]
    assert httpx.post(sim.clob_url + "/books", json=body, headers=UA).status_code == 400
    good = [t for t in tokens if not sim.refuses(t)]
    assert (
        good
        and httpx.post(sim.clob_url + "/books", json=[{"token_id": good[0]}], headers=UA).status_code == 200
    )


def test_empty_timestamp_and_tick_flip_keep_the_hash_consistent(sim):
    sim.set_behaviour(empty_timestamp_rate=1.0, tick_flip=True)
    events = get(sim, "/events", series_id="10684", closed="false").json()
    token = orjson.loads(events[1]["markets"][0]["clobTokenIds"])[0]
    book = httpx.get(sim.clob_url + "/book", params={"token_id": token}, headers=UA).json()
    assert book["timestamp"] == ""
    assert book["hash"] == book_hash(book)


def test_blocked_is_an_html_403_and_throttle_delays_a_normal_answer(sim):
    sim.set_faults(mode="blocked", target="gamma")
    blocked = get(sim, "/events", series_id="10684")
    assert blocked.status_code == 403 and "Sorry, you have been blocked" in blocked.text
    sim.set_faults(mode="throttle", target="gamma", throttle_seconds=0.2)
    throttled = get(sim, "/events", series_id="10684")
    assert throttled.status_code == 200 and throttled.elapsed.total_seconds() >= 0.2
    assert sim.stats()["fault_counts"] == {"blocked": 1, "throttle": 1}


def test_a_market_by_id_closes_60_to_120_s_after_its_end_with_resolved_outcome_prices(clock):
    handle = start_simulator(
        window_seconds=300,
        seed=3,
        series=("10684",),
        clock=clock,
        close_after_seconds=60,
        close_spread_seconds=60,
    )
    try:
        [event] = [
            e
            for e in get(
                handle, "/events", series_id="10684", limit=1, order="endDate", ascending="true"
            ).json()
        ]
        market = event["markets"][0]
        end = datetime.fromisoformat(market["endDate"].replace("Z", "+00:00")).timestamp()
        first = get(handle, f"/markets/{market['id']}")
        assert first.status_code == 200 and first.json() == market  # the listing's object, by id
        clock.t = end + 59
        assert get(handle, f"/markets/{market['id']}").json()["closed"] is False
        clock.t = end + 121
        closed = get(handle, f"/markets/{market['id']}").json()
        assert closed["closed"] is True and closed["conditionId"] == market["conditionId"]
        assert sorted(orjson.loads(closed["outcomePrices"])) == ["0", "1"]  # strings, as Gamma sends them
        assert "closedTime" in closed and closed["acceptingOrders"] is False
        assert get(handle, "/markets/999").status_code == 404
        assert handle.stats()["requests"][f"GET /markets/{market['id']}"] == 3
    finally:
        handle.stop()
