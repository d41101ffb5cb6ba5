"""Parsing Gamma events: JSON-in-JSON, pairing by index, filtering what comes back."""

import json

import pytest
from orderbooks.markets.gamma import parse_events, parse_iso_ms

UP = "48418917734180607831833027288777571190488909295977497623601373906809754084036"
DOWN = "14943202171143669362180565155331992758433128192256190594100236888666963607938"


def event(
    series_id="10684", slug="btc-updown-5m-1778584200", outcomes=("Up", "Down"), tokens=(UP, DOWN), **market
):
    m = {
        "id": "2229686",
        "conditionId": "0xa5c6",
        "slug": slug,
        "outcomes": json.dumps(list(outcomes)),
        "clobTokenIds": json.dumps(list(tokens)),
        "eventStartTime": "2026-05-12T11:10:00Z",
        "endDate": "2026-05-12T11:15:00Z",
        "enableOrderBook": True,
        "closed": False,
    }
    m.update(market)
    return {
        "id": "473573",
        "slug": slug,
        "title": "Bitcoin Up or Down - May 12, 7:10AM-7:15AM ET",
        "series": [{"id": series_id, "slug": "btc-up-or-down-5m"}],
        "markets": [m],
    }


def test_real_shape_is_parsed_and_paired_by_index():
    markets, skipped = parse_events([event()], "10684")
    assert skipped == []
    (m,) = markets
    assert m.tokens == ((UP, "Up"), (DOWN, "Down"))
    assert m.start_ms == 1778584200000
    assert m.end_ms == 1778584500000
    assert (m.window_start, m.window_end) == ("2026-05-12T11:10:00Z", "2026-05-12T11:15:00Z")
    assert m.series == "10684"


def test_reversed_order_pairs_by_index_not_by_position():
    markets, _ = parse_events([event(outcomes=("Down", "Up"), tokens=(DOWN, UP))], "10684")
    assert markets[0].outcome_of(UP) == "Up"
    assert markets[0].outcome_of(DOWN) == "Down"


def test_events_of_other_series_and_non_btc_events_are_dropped():
    other = event(series_id="10192")
    eth = event(slug="eth-updown-5m-1", series_id="10684")
    eth["title"] = "Ethereum Up or Down"
    eth["series"][0]["slug"] = "eth-up-or-down-5m"
    markets, skipped = parse_events([other, eth, event()], "10684")
    assert len(markets) == 1
    assert {s.reason for s in skipped} == {"not in the requested series", "not a BTC up/down event"}


def test_series_id_may_be_a_number():
    ev = event()
    ev["series"][0]["id"] = 10684
    assert len(parse_events([ev], "10684")[0]) == 1


def test_three_outcomes_are_skipped_with_a_reason_not_drift():
    markets, skipped = parse_events([event(outcomes=("Up", "Down", "Flat"), tokens=(UP, DOWN, "3"))], "10684")
    assert markets == []
    assert "expected 2 outcomes and 2 clobTokenIds, got 3 and 3" in skipped[0].reason
    assert not skipped[0].drift


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("clobTokenIds", None, "clobTokenIds is NoneType"),
        ("clobTokenIds", [int(UP), int(DOWN)], "not decimal strings"),
        ("outcomes", "[not json", "outcomes is not valid JSON"),
        ("eventStartTime", "yesterday", "bad window times"),
        ("conditionId", None, "no conditionId"),
    ],
)
def test_drifted_markets_are_skipped_as_drift(field, value, reason):
    ev = event()
    if value is None:
        del ev["markets"][0][field]
    else:
        ev["markets"][0][field] = value
    markets, skipped = parse_events([ev], "10684")
    assert markets == []
    assert reason in skipped[0].reason
    assert skipped[0].drift


def test_real_list_fields_are_tolerated():
    markets, _ = parse_events([event(outcomes=["Up", "Down"])], "10684")
    ev = event()
    ev["markets"][0]["outcomes"] = ["Up", "Down"]
    assert parse_events([ev], "10684")[0][0].tokens == markets[0].tokens


def test_hourly_slug_forms_both_work_since_times_come_from_fields():
    for slug in ("bitcoin-up-or-down-november-13-9pm-et", "bitcoin-up-or-down-may-12-2026-7am-et"):
        ev = event(series_id="10114", slug=slug)
        ev["title"] = "Bitcoin Up or Down - x"
        assert parse_events([ev], "10114")[0][0].slug == slug


def test_answer_that_is_not_a_list_raises():
    with pytest.raises(ValueError, match="expected a list"):
        parse_events({"data": []}, "10684")


def test_parse_iso_ms_variants():
    assert parse_iso_ms("2026-05-12T11:10:00Z") == 1778584200000
    assert parse_iso_ms("2026-05-12T11:10:00.250Z") == 1778584200250
    assert parse_iso_ms("2026-05-12 11:10:00+00") == 1778584200000
    with pytest.raises(ValueError):
        parse_iso_ms("")
