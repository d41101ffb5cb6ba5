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


# ---------------------------------------------------------------- Protocol V2 market ids

V2_UP = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
V2_DOWN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def ids_event(**fields):
    """An event whose market carries exactly *fields* besides the rest (None: the key is absent)."""
    ev = event()
    market = ev["markets"][0]
    del market["clobTokenIds"]
    market.update({k: v for k, v in fields.items() if v is not None})
    return ev


V1_IDS = json.dumps([UP, DOWN])
V2_IDS = [V2_UP, V2_DOWN]


@pytest.mark.parametrize(
    ("fields", "tokens", "version"),
    [
        ({"clobTokenIds": V1_IDS}, (UP, DOWN), "v1"),  # no version: v1, as before Protocol V2
        ({"version": None, "clobTokenIds": V1_IDS}, (UP, DOWN), "v1"),
        ({"version": "v1", "clobTokenIds": V1_IDS}, (UP, DOWN), "v1"),
        ({"version": "v2", "positionIds": V2_IDS}, (V2_UP, V2_DOWN), "v2"),
        # both present with different ids: version decides, whichever field comes first
        ({"version": "v2", "clobTokenIds": V1_IDS, "positionIds": V2_IDS}, (V2_UP, V2_DOWN), "v2"),
        ({"positionIds": V2_IDS, "clobTokenIds": V1_IDS, "version": "v1"}, (UP, DOWN), "v1"),
        # a JSON-encoded positionIds string (the v1 form) is read too
        ({"version": "v2", "positionIds": json.dumps(V2_IDS)}, (V2_UP, V2_DOWN), "v2"),
    ],
)
def test_market_ids_come_from_the_field_the_version_names(fields, tokens, version):
    markets, skipped = parse_events([ids_event(**fields)], "10684")
    assert skipped == []
    (m,) = markets
    assert m.tokens == ((tokens[0], "Up"), (tokens[1], "Down"))
    assert m.version == version


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"version": "v2"}, "positionIds is NoneType, expected a list (version v2)"),
        ({"version": "v2", "clobTokenIds": V1_IDS}, "positionIds is NoneType"),  # v1 ids are not used
        ({"version": "v1", "positionIds": V2_IDS}, "clobTokenIds is NoneType"),
        ({"positionIds": V2_IDS}, "clobTokenIds is NoneType"),  # no version: v1
        ({"version": "v2", "positionIds": 2}, "positionIds is int, expected a list"),
        ({"version": "v2", "positionIds": "[not json"}, "positionIds is not valid JSON"),
        ({"version": "v2", "positionIds": [int(V2_UP), int(V2_DOWN)]}, "positionIds are not decimal strings"),
        ({"version": "v2", "positionIds": ["0x1f", "0x2e"]}, "positionIds are not decimal strings"),
        ({"version": "v2", "positionIds": [V2_UP]}, "1 positionIds for 2 outcomes (version v2)"),
        ({"version": "v2", "positionIds": []}, "0 positionIds for 2 outcomes"),
        ({"clobTokenIds": json.dumps([UP, DOWN, "7"])}, "3 clobTokenIds for 2 outcomes (version v1)"),
        ({"version": "v3", "positionIds": V2_IDS}, "unknown version 'v3'; known: v1, v2"),
        ({"version": "V2", "positionIds": V2_IDS}, "unknown version 'V2'"),
        ({"version": 2, "positionIds": V2_IDS}, "unknown version '2'"),
    ],
)
def test_unreadable_market_ids_are_drift_naming_the_market(fields, reason):
    markets, skipped = parse_events([ids_event(**fields)], "10684")
    assert markets == []
    (skip,) = skipped
    assert reason in skip.reason
    assert skip.drift
    assert (skip.slug, skip.market_id) == ("btc-updown-5m-1778584200", "2229686")
    assert skip.market == "btc-updown-5m-1778584200 (market 2229686)"


def test_a_v2_market_with_three_outcomes_is_a_skip_not_drift():
    ev = ids_event(version="v2", positionIds=[V2_UP, V2_DOWN, "3"])
    ev["markets"][0]["outcomes"] = json.dumps(["Up", "Down", "Flat"])
    markets, skipped = parse_events([ev], "10684")
    assert markets == []
    assert "expected 2 outcomes and 2 positionIds, got 3 and 3" in skipped[0].reason
    assert not skipped[0].drift


def test_a_drifted_v2_market_in_an_ignored_event_is_still_drift():
    ev = ids_event(version="v2")
    ev["series"][0]["id"] = "10192"
    _, skipped = parse_events([ev], "10684")
    drift = [s for s in skipped if s.drift]
    assert [s.reason for s in drift] == [
        "in an ignored event: positionIds is NoneType, expected a list (version v2)"
    ]
    assert drift[0].market_id == "2229686"


def test_the_real_closed_markets_say_version_v1_and_parse_as_before():
    from pathlib import Path

    real = Path(__file__).resolve().parents[2] / "fixtures" / "real"
    for name in (
        "gamma-event-closed-btc-updown-5m-1790617500.json",
        "gamma-event-closed-btc-updown-15m-1790616600.json",
    ):
        ev = json.loads((real / name).read_bytes())["response"]
        market = ev["markets"][0]
        assert market["version"] == "v1" and "positionIds" not in market
        sid = ev["series"][0]["id"]
        (m,), _ = parse_events([ev], sid)
        assert m.version == "v1"
        assert [t for t, _ in m.tokens] == json.loads(market["clobTokenIds"])
