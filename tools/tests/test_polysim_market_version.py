"""polysim ``market_version``: v1 (default, as before), v2 (ids in ``positionIds``) and mixed listings.

Checked through the HTTP API with a manual clock: which field holds the ids,
which ids the CLOB serves a book for, drift of the right field, the command-line
option and the control port's state.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from polysim import start_simulator
from polysim.markets import parse_time_ms
from test_polysim_payloads import T0, UA, ManualClock

TOOLS = Path(__file__).resolve().parents[1]


@pytest.fixture
def client():
    with httpx.Client(headers=UA, timeout=5) as c:
        yield c


def btc_markets(client, sim, series="10684"):
    """(market, window index) of every BTC up/down market of an open listing of *series*."""
    events = client.get(
        f"{sim.gamma_url}/events", params={"series_id": series, "closed": "false", "limit": "50"}
    ).json()
    length = sim.catalog.lengths[series]
    return [
        (m, parse_time_ms(m["eventStartTime"]) // length)
        for e in events
        if e["series"][0]["id"] == series
        for m in e["markets"]
        if len(json.loads(m["outcomes"])) == 2
    ]


def book_status(client, sim, token):
    return client.get(f"{sim.clob_url}/book", params={"token_id": token}).status_code


def test_default_is_v1_as_before_no_version_key_and_clob_token_ids(client):
    with start_simulator(window_seconds=10, seed=4, clock=ManualClock()) as sim:
        markets = btc_markets(client, sim)
        assert markets
        for m, _ in markets:
            assert "version" not in m and "positionIds" not in m
            tokens = json.loads(m["clobTokenIds"])
            assert all(book_status(client, sim, t) == 200 for t in tokens)
        assert client.get(f"{sim.control_url}/state").json()["market_version"] == "v1"


def test_v2_lists_position_ids_the_clob_serves_and_on_alternate_windows_stale_clob_token_ids(client):
    with start_simulator(window_seconds=10, seed=4, clock=ManualClock(), market_version="v2") as sim:
        markets = btc_markets(client, sim)
        assert len(markets) >= 4
        span = (int(T0 * 1000) - 60_000, int(T0 * 1000) + 600_000)
        truth = {d["condition_id"]: d for d in sim.markets_between(*span)}
        for m, k in markets:
            assert m["version"] == "v2"
            ids = m["positionIds"]
            assert isinstance(ids, list) and all(isinstance(t, str) and t.isdigit() for t in ids)
            assert len(ids) == len(json.loads(m["outcomes"])) == 2
            assert truth[m["conditionId"]]["tokens"] == dict(zip(ids, json.loads(m["outcomes"]), strict=True))
            assert all(book_status(client, sim, t) == 200 for t in ids)
            if k % 2 == 0:  # the trap: other ids, no book for them
                legacy = json.loads(m["clobTokenIds"])
                assert not set(legacy) & set(ids)
                assert all(book_status(client, sim, t) == 404 for t in legacy)
            else:
                assert "clobTokenIds" not in m
        assert {k % 2 for _, k in markets} == {0, 1}
        assert client.get(f"{sim.control_url}/state").json()["market_version"] == "v2"


def test_mixed_alternates_v1_and_v2_windows(client):
    with start_simulator(window_seconds=10, seed=4, clock=ManualClock(), market_version="mixed") as sim:
        markets = btc_markets(client, sim)
        seen = set()
        for m, k in markets:
            seen.add(m["version"])
            if k % 2 == 0:
                assert m["version"] == "v1" and "positionIds" not in m
                ids = json.loads(m["clobTokenIds"])
            else:
                assert m["version"] == "v2"
                ids = m["positionIds"]
                assert ("clobTokenIds" in m) == ((k // 2) % 2 == 0)
            assert all(book_status(client, sim, t) == 200 for t in ids)
        assert seen == {"v1", "v2"}


def test_drift_in_v2_hits_position_ids(client):
    with start_simulator(window_seconds=10, seed=4, clock=ManualClock(), market_version="v2") as sim:
        sim.set_faults(mode="drift", target="gamma")
        events = client.get(
            f"{sim.gamma_url}/events", params={"series_id": "10684", "closed": "false"}
        ).json()
        market = events[0]["markets"][0]
        assert not isinstance(market.get("positionIds"), list)


def test_closed_5m_answers_state_the_twap_rule_like_the_real_ones(client):
    clock = ManualClock()
    with start_simulator(window_seconds=10, seed=4, clock=clock, market_version="v2") as sim:
        events = client.get(
            f"{sim.gamma_url}/events", params={"series_id": "10684", "closed": "true", "limit": "2"}
        ).json()
        answer = client.get(f"{sim.gamma_url}/markets/{events[0]['markets'][0]['id']}").json()
    assert answer["closed"] is True and answer["version"] == "v2" and answer["positionIds"]
    assert answer["cryptoMarketConfig"] == {
        "id": "btc-5m-twap-60",
        "asset": "btc",
        "duration": "5m",
        "twapEnabled": True,
        "twapLookbackSeconds": 60,
    }
    assert answer["resolutionSource"] == "https://data.chain.link/streams/btc-usd-twap-60s-streams"


def test_an_unknown_market_version_is_refused():
    with pytest.raises(ValueError, match="market_version must be one of v1, v2, mixed"):
        start_simulator(market_version="v3")
    r = subprocess.run(
        [sys.executable, "-m", "polysim", "--port", "0", "--market-version", "v3"],
        cwd=TOOLS,
        capture_output=True,
        timeout=10,
    )
    assert r.returncode == 2 and b"--market-version" in r.stderr and r.stdout == b""


def test_command_line_option_serves_v2(client):
    proc = subprocess.Popen(
        [sys.executable, "-m", "polysim", "--port", "0", "--market-version", "v2"],
        cwd=TOOLS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = orjson.loads(proc.stdout.readline())
        events = client.get(ready["gamma_url"] + "/events", params={"series_id": "10192"}).json()
        assert events and all(e["markets"][0]["version"] == "v2" for e in events)
        assert client.get(ready["control_url"] + "/state").json()["market_version"] == "v2"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
