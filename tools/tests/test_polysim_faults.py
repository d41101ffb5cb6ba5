"""polysim faults, each observed from a real httpx client, and the control API."""

from __future__ import annotations

import inspect
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from polysim import Simulator, start_simulator

UA = {"User-Agent": "orderbooks-tests/1"}
SUPPORT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim():
    with start_simulator(window_seconds=10, seed=3) as s:
        yield s


@pytest.fixture
def client():
    with httpx.Client(headers=UA, timeout=httpx.Timeout(2.0, read=1.0)) as c:
        yield c


def a_token(sim) -> str:
    now = sim.now_ms()
    m = next(m for m in sim.markets_between(now, now + 1) if m["series"] == "10684")
    return next(iter(m["tokens"]))


def get_book(client, sim, token):
    return client.get(f"{sim.clob_url}/book", params={"token_id": token})


def post_books(client, sim, token):
    return client.post(f"{sim.clob_url}/books", json=[{"token_id": token}])


def get_events(client, sim):
    return client.get(f"{sim.gamma_url}/events", params={"series_id": "10684", "closed": "false"})


def test_5xx_hits_only_the_target(client, sim):
    token = a_token(sim)
    sim.set_faults(mode="5xx", target="clob")
    statuses = set()
    for _ in range(12):
        r = get_book(client, sim, token)
        assert r.status_code in (500, 502, 503)
        assert isinstance(r.json()["error"], str)
        statuses.add(r.status_code)
    assert len(statuses) >= 2
    assert get_events(client, sim).status_code == 200
    stats = sim.stats()
    assert stats["fault_counts"] == {"5xx": 12}
    assert {f["endpoint"] for f in stats["faults"]} == {"GET /book"}
    assert sorted({f["status"] for f in stats["faults"]}) == sorted(statuses)


def test_429_carries_retry_after(client, sim):
    sim.set_faults(mode="429", target="all", retry_after=2)
    r = post_books(client, sim, a_token(sim))
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "2"
    assert r.json() == {"error": "Too Many Requests"}
    assert get_events(client, sim).status_code == 429


def test_425_service_not_ready(client, sim):
    sim.set_faults(mode="425", target="clob")
    r = get_book(client, sim, a_token(sim))
    assert (r.status_code, r.json()) == (425, {"error": "service not ready"})


def test_slow_answers_outlast_the_client_timeout(sim):
    sim.set_faults(mode="slow", target="clob", slow_seconds=0.6)
    with (
        httpx.Client(headers=UA, timeout=httpx.Timeout(2.0, read=0.2)) as c,
        pytest.raises(httpx.ReadTimeout),
    ):
        get_book(c, sim, a_token(sim))
    sim.set_faults(mode="none")
    with httpx.Client(headers=UA, timeout=2.0) as c:
        assert get_book(c, sim, a_token(sim)).status_code == 200


def test_reset_aborts_without_a_response(client, sim):
    sim.set_faults(mode="reset", target="gamma")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as err:
        get_events(client, sim)
    assert "reset" in str(err.value).lower() or isinstance(err.value, httpx.RemoteProtocolError)
    assert post_books(client, sim, a_token(sim)).status_code == 200
    assert sim.stats()["faults"][0]["status"] is None


def test_truncated_body(client, sim):
    sim.set_faults(mode="truncate", target="clob")
    with pytest.raises(httpx.RemoteProtocolError):
        post_books(client, sim, a_token(sim))


def test_html_instead_of_json(client, sim):
    sim.set_faults(mode="html", target="gamma")
    r = get_events(client, sim)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "Cloudflare" in r.text
    with pytest.raises(ValueError):
        r.json()


def drifted(payload) -> bool:
    books = payload if isinstance(payload, list) else [payload]
    for b in books:
        if "bids" not in b:
            return True
        if any(not isinstance(lvl["price"], str) for side in ("bids", "asks") for lvl in b[side]):
            return True
    return False


def test_schema_drift(client, sim):
    token = a_token(sim)
    sim.set_faults(mode="drift", target="clob")
    seen = [drifted(post_books(client, sim, token).json()) for _ in range(6)]
    seen += [drifted(get_book(client, sim, token).json()) for _ in range(6)]
    assert all(seen)
    sim.set_faults(mode="drift", target="gamma")
    evs = get_events(client, sim).json()
    market = evs[0]["markets"][0]
    assert not isinstance(market.get("clobTokenIds"), str)


def test_down_refuses_connections_then_comes_back(client, sim):
    token = a_token(sim)
    assert get_book(client, sim, token).status_code == 200  # a pooled keep-alive connection exists
    sim.set_faults(mode="down")
    with pytest.raises(httpx.ConnectError):
        get_book(client, sim, token)
    with pytest.raises(httpx.ConnectError), httpx.Client(headers=UA, timeout=1) as fresh:
        fresh.get(sim.gamma_url + "/events")
    assert httpx.get(sim.control_url + "/state").json()["api_down"] is True
    sim.set_faults(mode="none")
    assert get_book(client, sim, token).status_code == 200
    assert sim.stats()["fault_counts"]["down"] == 1


def test_random_down_is_a_short_outage(client, sim):
    token = a_token(sim)
    sim.set_faults(mode="random", kinds=["down"], rate=1.0, down_seconds=0.4)
    with pytest.raises(httpx.TransportError):
        get_book(client, sim, token)
    sim.set_faults(mode="none", target="all")  # stops new draws; the outage ends on its own
    deadline = time.monotonic() + 3
    while True:
        try:
            assert get_book(client, sim, token).status_code == 200
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_random_faults_are_all_accounted_for(client, sim):
    token = a_token(sim)
    sim.set_faults(mode="random", rate=0.5, slow_seconds=0.3)
    observed = 0
    with httpx.Client(headers=UA, timeout=httpx.Timeout(2.0, read=0.15)) as c:
        for i in range(40):
            try:
                r = get_book(c, sim, token) if i % 2 else post_books(c, sim, token)
            except httpx.TransportError:
                observed += 1
                continue
            if (
                r.status_code != 200
                or not r.headers["Content-Type"].startswith("application/json")
                or drifted(r.json())
            ):
                observed += 1
    stats = sim.stats()
    assert stats["requests"] == {"GET /book": 20, "POST /books": 20}
    assert len(stats["faults"]) == sum(stats["fault_counts"].values()) == observed
    assert 5 < observed < 35
    assert len(stats["fault_counts"]) >= 4


def test_same_seed_same_fault_sequence(client):
    kinds = []
    for _ in range(2):
        with start_simulator(window_seconds=10, seed=11) as s:
            s.set_faults(mode="random", rate=0.5, kinds=["5xx", "429", "425", "html"])
            token = a_token(s)
            for _ in range(20):
                get_book(client, s, token)
            kinds.append([(f["kind"], f["status"]) for f in s.stats()["faults"]])
    assert kinds[0] == kinds[1] and kinds[0]


def test_control_api_over_http(client, sim):
    ctl = sim.control_url
    r = client.post(ctl + "/faults", json={"mode": "bogus"})
    assert r.status_code == 400 and "mode" in r.json()["error"]
    assert client.post(ctl + "/faults", json={"mode": "429", "rate": 2}).status_code == 400
    assert client.post(ctl + "/faults", json={"mode": "5xx", "oops": 1}).status_code == 400
    r = client.post(ctl + "/faults", json={"mode": "429", "target": "clob", "retry_after": 3})
    assert r.json()["config"]["mode"] == "429"
    assert get_book(client, sim, a_token(sim)).status_code == 429
    state = client.get(ctl + "/state").json()
    assert state["faults"]["mode"] == "429" and state["requests"] == {"GET /book": 1}
    assert state["open_markets"] and state["window_ms"]["10684"] == 10_000
    stats = client.get(ctl + "/stats").json()
    assert stats["fault_counts"] == {"429": 1} and stats["faults"][0]["endpoint"] == "GET /book"
    now = state["now_ms"]
    markets = client.get(ctl + "/markets", params={"start_ms": now, "end_ms": now + 1}).json()
    assert {m["series"] for m in markets} == {"10684", "10192", "10114", "10331", "41"}
    assert client.post(ctl + "/reset").json() == {"ok": True}
    assert client.get(ctl + "/stats").json()["requests"] == {}
    assert get_book(client, sim, a_token(sim)).status_code == 200


def test_command_line_prints_ready_line_and_exits_0_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "polysim", "--port", "0", "--seed", "5", "--fault-rate", "0.0"],
        cwd=SUPPORT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = orjson.loads(proc.stdout.readline())
        assert ready["event"] == "polysim_ready"
        assert ready["gamma_url"].endswith("/gamma") and ready["clob_url"].endswith("/clob")
        r = httpx.get(ready["gamma_url"] + "/events", params={"series_id": "41"}, headers=UA)
        assert r.status_code == 200 and r.json()
        assert httpx.get(ready["control_url"] + "/state").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == b""  # nothing after the ready line


@pytest.mark.parametrize(
    ("option", "complaint"),
    [(["--faults", "nope"], b"unknown fault kind"), (["--behaviour", "{nope"], b"polysim: ")],
)
def test_command_line_rejects_bad_values(option, complaint):
    r = subprocess.run(
        [sys.executable, "-m", "polysim", "--port", "0", *option],
        cwd=SUPPORT,
        capture_output=True,
        timeout=10,
    )
    assert r.returncode == 2 and complaint in r.stderr and r.stdout == b""


def test_command_line_options_reach_the_simulator(monkeypatch):
    import polysim.__main__ as cli

    built = {}

    class Stop(Exception):
        pass

    def capture(**kw):
        built.update(kw)
        raise Stop

    monkeypatch.setattr(cli, "Simulator", capture)
    argv = ["--port", "7000", "--series", "41", "--book-levels", "5"]
    argv += ["--behaviour", '{"offset_sunset": true}']
    with pytest.raises(Stop):
        cli.main(argv)
    assert built["port"] == 7000 and built["control_port"] == 7001  # default: port + 1
    assert built["series"] == "41" and built["book_levels"] == 5
    assert built["behaviour"] == {"offset_sunset": True}
    assert set(built) == {a.dest for a in cli.parser()._actions if a.dest != "help"}
    assert set(built) <= set(inspect.signature(Simulator).parameters)
