"""The collector's parsers on real recorded Gamma and CLOB payloads (tests/fixtures/real/)."""

from __future__ import annotations

import json

import pytest
from orderbooks.capture.books import validate_book
from orderbooks.markets.documents import closed_doc, closed_problem
from orderbooks.markets.gamma import Market, decode_list, parse_events, parse_iso_ms, parse_market
from testkit.real_shapes import REAL_DIR, load, real_books


def test_every_fixture_is_listed_in_the_provenance_file():
    provenance = (REAL_DIR / "PROVENANCE.md").read_text()
    names = sorted(p.name for p in REAL_DIR.glob("*.json"))
    assert len(names) >= 6
    assert [n for n in names if n not in provenance] == []


def test_spec5m_event_pairs_tokens_with_outcomes_by_index():
    event = load("gamma-event-btc-updown-5m-1778584200.json")
    markets, skipped = parse_events([event], "10684")
    assert skipped == []
    assert markets == [
        Market(
            series="10684",
            slug="btc-updown-5m-1778584200",
            condition_id="0xa5c6d0c4cef71fe53c0235790b5568574343551fe67c62db39e9ebf3387b415a",
            window_start="2026-05-12T11:10:00Z",
            window_end="2026-05-12T11:15:00Z",
            start_ms=1_778_584_200_000,
            end_ms=1_778_584_500_000,
            tokens=(
                ("48418917734180607831833027288777571190488909295977497623601373906809754084036", "Up"),
                ("14943202171143669362180565155331992758433128192256190594100236888666963607938", "Down"),
            ),
        )
    ]
    # The slug names the window start in unix seconds: the parsed start agrees with it.
    assert markets[0].start_ms // 1000 == int(markets[0].slug.rsplit("-", 1)[1])


def test_event_of_another_series_is_skipped_not_parsed():
    event = load("gamma-event-btc-updown-5m-1778584200.json")
    markets, skipped = parse_events([event], "10192")
    assert markets == []
    assert [s.reason for s in skipped] == ["not in the requested series"]


@pytest.mark.parametrize(
    ("name", "up", "down"),
    [
        (
            "gamma-event-btc-updown-5m-1786844100.json",
            "93555969663711891451625685586929143462823436918129307927023356936446352666723",
            "94849117489514498694289722598425502085219999537404711666470172403883007236688",
        ),
        (
            "gamma-events-btc-updown-5m-1784439600.json",
            "111394444729792877806659658906374744159106626487508364417476902646505424758248",
            "67063025231054467036218378525223409033496849839613617174918904089424584844374",
        ),
    ],
)
def test_trimmed_captures_decode_json_in_json_and_pair_by_index(name, up, down):
    payload = load(name)
    event = payload[0] if isinstance(payload, list) else payload
    market = event["markets"][0]
    tokens = decode_list(market["clobTokenIds"], "clobTokenIds")
    outcomes = decode_list(market["outcomes"], "outcomes")
    assert dict(zip(outcomes, tokens, strict=True)) == {"Up": up, "Down": down}
    # 77- and 78-digit decimal ids: never numbers, never truncated.
    assert sorted({len(t) for t in tokens}) in ([77], [77, 78], [78])
    # These captures were trimmed by their authors to a few fields: no eventStartTime and no
    # event startTime, so today's parser cannot place the window (the keyset/recurrence work
    # derives it from endDate minus the series' recurrence).
    if "eventStartTime" not in market and "startTime" not in event:
        with pytest.raises(ValueError, match="window"):
            parse_market(event, market, "10684")


CLOSED_CAPTURES = [
    ("gamma-event-closed-btc-updown-5m-1790617500.json", "10684", "Down", {"Up": "0", "Down": "1"}),
    ("gamma-event-closed-btc-updown-15m-1790616600.json", "10192", "Up", {"Up": "1", "Down": "0"}),
]


@pytest.mark.parametrize(("name", "series", "winner", "prices"), CLOSED_CAPTURES)
def test_real_closed_answers_are_accepted_and_name_the_winner(name, series, winner, prices):
    capture = load(name)
    assert capture["_request"].startswith("GET https://gamma-api.polymarket.com/events/slug/")
    event = capture["response"]
    markets, skipped = parse_events([event], series)
    assert skipped == []
    [market] = markets
    assert market.closed is True
    assert market.start_ms // 1000 == int(market.slug.rsplit("-", 1)[1])
    raw = event["markets"][0]
    assert raw["closed"] is True and raw["umaResolutionStatus"] == "resolved"
    assert isinstance(raw["outcomePrices"], str)  # JSON in JSON, like outcomes and clobTokenIds
    assert closed_problem(raw, market) == (None, False)
    doc = closed_doc(market, raw, f"GET /markets/{raw['id']}", 1_790_618_000_000, attempts=1)
    assert (doc["winner"], doc["outcome_prices"]) == (winner, prices)
    assert doc["market_id"] == raw["id"] and doc["market"] is raw
    assert doc["tokens"] == dict(zip(decode_list(raw["clobTokenIds"], "t"), ["Up", "Down"], strict=True))
    # The winner agrees with the event's own prices: Up when the final price >= the price to beat.
    meta = event["eventMetadata"]
    assert winner == ("Up" if meta["finalPrice"] >= meta["priceToBeat"] else "Down")


@pytest.mark.parametrize("name", [c[0] for c in CLOSED_CAPTURES])
def test_real_closed_answer_of_another_market_is_a_wrong_answer(name):
    closed = load(name)["response"]["markets"][0]
    other = load("gamma-event-btc-updown-5m-1778584200.json")
    [market] = parse_events([other], "10684")[0]
    reason, wrong = closed_problem(closed, market)
    assert wrong is True and reason.startswith("answer is for conditionId")


def test_real_closed_markets_close_within_two_minutes_and_drop_liquidity():
    for name, *_ in CLOSED_CAPTURES:
        market = load(name)["response"]["markets"][0]
        after_end = parse_iso_ms(market["closedTime"]) - parse_iso_ms(market["endDate"])
        assert 0 < after_end < 120_000  # 54 s (5m) and 87 s (15m) after the window end
        assert market["acceptingOrders"] is False
        # Closed markets carry no liquidity fields; a 76-digit token id is real too (15m Down).
        assert "liquidity" not in market and "liquidityNum" not in market
    tokens = decode_list(load(CLOSED_CAPTURES[1][0])["response"]["markets"][0]["clobTokenIds"], "t")
    assert [len(t) for t in tokens] == [77, 76]


@pytest.mark.parametrize(
    ("text", "epoch_ms"),
    [
        ("2026-05-12T11:15:00Z", 1_778_584_500_000),  # endDate, no fraction
        ("2026-05-11T11:21:20.025727Z", 1_778_498_480_026),  # event startDate, 6 digits
        ("2026-05-11T11:18:23.695579Z", 1_778_498_303_696),  # market startDate, 6 digits
        ("2026-03-22T15:23:25.54094Z", 1_774_193_005_541),  # 15m startDate, 5 digits
        ("2026-06-04 00:34:19+00", 1_780_533_259_000),  # closedTime: space and +00
        ("2026-05-12T11:15:00.5Z", 1_778_584_500_500),
        ("2026-05-12T11:15:00.123Z", 1_778_584_500_123),
        ("2026-05-12T11:15:00+00:00", 1_778_584_500_000),
    ],
)
def test_every_iso_form_seen_in_gamma_parses(text, epoch_ms):
    assert parse_iso_ms(text) == epoch_ms


def test_real_event_times_all_parse():
    event = load("gamma-event-btc-updown-5m-1778584200.json")
    market = event["markets"][0]
    for value in (
        event["startDate"], event["endDate"], event["startTime"],
        market["endDate"], market["startDate"], market["eventStartTime"], market["acceptingOrdersTimestamp"],
    ):  # fmt: skip
        assert parse_iso_ms(value) > 1_700_000_000_000


def test_real_books_have_no_shape_errors():
    books = real_books()
    assert len(books) == 3
    for book in books:
        assert validate_book(book, book["asset_id"]) == []


def test_real_book_prices_are_strings_and_best_levels_are_last():
    book = load("clob-book-1786844232261.json")
    assert book["bids"][-1] == {"price": "0.02", "size": "17928"}
    assert all(isinstance(lvl["price"], str) and isinstance(lvl["size"], str) for lvl in book["bids"])
    bids = [float(lvl["price"]) for lvl in book["bids"]]
    assert bids == sorted(bids)  # bids ascending: the best bid is last
    frames = load("ws-book-frames-1775740020016.json")
    for frame in frames:
        asks = [float(lvl["price"]) for lvl in frame["asks"]]
        assert asks == sorted(asks, reverse=True)  # asks descending: the best ask is last
        assert frame["last_trade_price"] == ""


def test_a_book_for_another_token_is_flagged():
    book = load("clob-book-1786844232261.json")
    up_token = "93555969663711891451625685586929143462823436918129307927023356936446352666723"
    errors = validate_book(book, up_token)
    assert errors == ["asset_id '104830988669153084352108' is not the requested token"]


def test_empty_sides_and_empty_timestamp_are_shape_ok():
    book = json.loads((REAL_DIR / "clob-book-1786844232261.json").read_bytes())
    book["bids"], book["asks"], book["timestamp"] = [], [], ""
    assert validate_book(book, book["asset_id"]) == []


def test_clob_error_bodies_are_the_ones_the_simulator_sends():
    responses = load("clob-related-endpoints-2026-08-10.json")["responses"]
    assert responses["GET /book?token_id=0 (HTTP 404)"] == {
        "error": "No orderbook exists for the requested token id"
    }
    assert responses["GET /book (token_id omitted, HTTP 400)"] == {"error": "Invalid token id"}
    assert responses["GET /tick-size?token_id=<fed_yes>"] == {"minimum_tick_size": 0.01}
