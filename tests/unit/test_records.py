"""records.FailureRecord.observed: the one constructor the network and storage sides use."""

from __future__ import annotations

from orderbooks.records import MESSAGE_MAX_CHARS, FailureRecord


def test_observed_keeps_every_field_and_a_short_message_as_given():
    record = FailureRecord.observed(
        1_700_000_000_000,
        7,
        "http_status",
        "HTTP 500",
        series="10684",
        token_id="123",
        status=500,
        endpoint="POST /books",
    )
    assert record == FailureRecord(
        t_ms=1_700_000_000_000,
        cycle=7,
        error="http_status",
        message="HTTP 500",
        series="10684",
        token_id="123",
        status=500,
        endpoint="POST /books",
    )


def test_observed_leaves_unknown_context_empty():
    record = FailureRecord.observed(5, None, "discovery", "down")
    assert record.to_dict() == {
        "t_ms": 5,
        "cycle": None,
        "error": "discovery",
        "message": "down",
        "series": None,
        "token_id": None,
        "status": None,
        "endpoint": None,
    }


def test_observed_cuts_a_long_message_to_the_limit():
    long = "x" * (MESSAGE_MAX_CHARS - 1) + "yz"
    record = FailureRecord.observed(1, 2, "bad_json", long)
    assert MESSAGE_MAX_CHARS == 200
    assert record.message == "x" * (MESSAGE_MAX_CHARS - 1) + "y"
    exact = "z" * MESSAGE_MAX_CHARS
    assert FailureRecord.observed(1, 2, "bad_json", exact).message == exact
