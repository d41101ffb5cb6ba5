"""The simulated Gamma answers: a market or an event of the catalog rendered
as Gamma's JSON (JSON-in-JSON list fields, ISO times, prices), open or closed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from polysim.markets import DECOY_SERIES_ID, SimEvent, SimMarket, iso_micro, iso_ms, unit


def _closed_time(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def render_market(m: SimMarket, now_ms: int, seed: int, book_at_start: bool = False) -> dict[str, Any]:
    closed = m.is_closed(now_ms)
    prelisted = book_at_start and now_ms < m.start_ms
    if closed:
        prices = ["1" if o == m.winner else "0" for o in m.outcomes]
    else:
        up = 0.5 + round((unit(seed, "price", m.condition_id) - 0.5) * 0.2, 3)
        prices = [f"{up:.3f}" if o == "Up" else f"{1 - up:.3f}" for o in m.outcomes]
    liquidity = round(1000 + unit(seed, "liq", m.condition_id) * 20000, 4)
    volume = round(unit(seed, "vol", m.condition_id) * 50000, 6)
    body: dict[str, Any] = {
        "id": m.market_id,
        "question": m.question,
        "conditionId": m.condition_id,
        "slug": m.slug,
        "resolutionSource": "https://data.chain.link/streams/btc-usd",
        "endDate": iso_ms(m.end_ms),
        "liquidity": str(liquidity),
        "startDate": iso_micro(m.created_ms, seed, m.condition_id),
        "description": "Resolves Up if the price at the end of the window is >= the price at the start.",
        "outcomes": json.dumps(list(m.outcomes)),
        "outcomePrices": json.dumps(prices),
        "volume": str(volume),
        "active": True,
        "closed": closed,
        "marketMakerAddress": "",
        "createdAt": iso_micro(m.created_ms, seed, "c", m.condition_id),
        "archived": False,
        "restricted": True,
        "questionID": m.question_id,
        "enableOrderBook": not prelisted,
        "orderPriceMinTickSize": 0.01,
        "orderMinSize": 5,
        "volumeNum": volume,
        "liquidityNum": liquidity,
        "clobTokenIds": json.dumps(list(m.token_ids)),
        "acceptingOrders": not closed,
        "negRisk": False,
        "acceptingOrdersTimestamp": iso_ms(m.created_ms // 1000 * 1000),
        "spread": 0.01,
        "lastTradePrice": 0.52,
        "bestBid": 0.51,
        "bestAsk": 0.52,
        "eventStartTime": iso_ms(m.start_ms),
        "clearBookOnStart": False,
        "feesEnabled": True,
        "feeType": "crypto_fees_v2",
        "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0.2},
    }
    if closed:
        body["closedTime"] = _closed_time(m.closed_at_ms)
    if prelisted:  # real pre-listed markets carry no acceptingOrders key (2025-12-28 sample)
        del body["acceptingOrders"]
    return body


def render_event(ev: SimEvent, now_ms: int, seed: int, book_at_start: bool = False) -> dict[str, Any]:
    closed = now_ms >= ev.closed_at_ms
    tags = [
        {"id": "102127", "label": "Up or Down", "slug": "up-or-down"},
        {"id": "21", "label": "Crypto", "slug": "crypto"},
        {"id": "235", "label": "Bitcoin", "slug": "bitcoin"}
        if ev.series_id != DECOY_SERIES_ID
        else {"id": "39", "label": "Ethereum", "slug": "ethereum"},
        {"id": "101757", "label": "Recurring", "slug": "recurring"},
    ]
    return {
        "id": ev.event_id,
        "ticker": ev.slug,
        "slug": ev.slug,
        "title": ev.title,
        "description": "Up or Down market on a fixed time window.",
        "startDate": iso_micro(ev.created_ms, seed, "event", ev.series_id, ev.k),
        "creationDate": iso_micro(ev.created_ms, seed, "event", ev.series_id, ev.k),
        "endDate": iso_ms(ev.end_ms),
        "startTime": iso_ms(ev.start_ms),
        "active": True,
        "closed": closed,
        "archived": False,
        "new": False,
        "featured": False,
        "restricted": True,
        "liquidity": round(unit(seed, "eliq", ev.event_id) * 20000, 4),
        "volume": round(unit(seed, "evol", ev.event_id) * 50000, 6),
        "openInterest": 0,
        "enableOrderBook": True,
        "negRisk": False,
        "commentCount": 0,
        "markets": [render_market(m, now_ms, seed, book_at_start) for m in ev.markets],
        "series": [
            {
                "id": ev.series_id,
                "ticker": ev.series_slug,
                "slug": ev.series_slug,
                "title": ev.series_slug.replace("-", " ").title(),
                "seriesType": "single",
                "recurrence": ev.recurrence,
                "active": True,
                "closed": False,
            }
        ],
        "tags": tags,
        "seriesSlug": ev.series_slug,
    }
