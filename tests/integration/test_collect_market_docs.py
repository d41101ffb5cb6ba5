"""Market documents beside the data: the real `orderbooks collect` process against the simulator.

A run that spans a window's close leaves a markets file with the market's
first-seen record and its closed record (``outcomePrices`` resolved), and
`orderbooks verify` passes on the folder; a SIGKILL leaves a partial that the
next start seals.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import time

import orjson
import pytest
from orderbooks.exitcodes import ExitCode
from orderbooks.store import gzmembers
from polysim import start_simulator
from testkit.collect_runs import orderbooks_argv


@pytest.fixture
def slow_close_sim():
    """10-second windows that close 6-8 s after their end (the first look, 5 s after, is early)."""
    with start_simulator(window_seconds=10, seed=3, close_after_seconds=6, close_spread_seconds=2) as handle:
        yield handle


def read_docs(data_dir, pattern="*.jsonl.gz"):
    """The documents in the complete members of the files (a member being written is left out)."""
    docs = []

    def on_member(member):
        docs.extend(orjson.loads(line) for line in gzmembers.split_lines(member.data))

    for path in sorted((data_dir / "markets").rglob(pattern)):
        gzmembers.scan(path, on_member)
    return docs


def verify(data_dir):
    done = subprocess.run(
        [*orderbooks_argv(), "verify", "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode, orjson.loads(done.stdout)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_window_closing_during_the_run_has_both_documents(slow_close_sim, collect):
    sim = slow_close_sim
    run = collect(sim, "--interval", "0.5", "--duration", "30", "--series", "10684")
    assert run.wait(timeout=120) == ExitCode.OK, run.stderr
    docs = read_docs(run.data_dir)
    closed = [d for d in docs if d["kind"] == "closed"]
    assert closed, [d["slug"] for d in docs]
    first_seen = {d["condition_id"]: d for d in docs if d["kind"] == "first_seen"}
    assert len(first_seen) == sum(1 for d in docs if d["kind"] == "first_seen")  # once per market
    for doc in closed:
        truth = sim.markets_between(run.started_ms - 120_000, run.started_ms + 120_000)
        market = next(m for m in truth if m["condition_id"] == doc["condition_id"])
        seen = first_seen[doc["condition_id"]]
        # the verbatim Gamma objects: token <-> outcome pairing as the simulator made it
        for record in (seen, doc):
            raw = record["market"]
            pairs = dict(zip(orjson.loads(raw["clobTokenIds"]), orjson.loads(raw["outcomes"]), strict=True))
            assert pairs == market["tokens"] == record["tokens"]
        assert seen["market"]["closed"] is False
        assert seen["event"]["slug"] == market["slug"] and "markets" not in seen["event"]
        assert doc["market"]["closed"] is True
        prices = orjson.loads(doc["market"]["outcomePrices"])
        assert sorted(prices) == ["0", "1"]
        winner = orjson.loads(doc["market"]["outcomes"])[prices.index("1")]
        assert doc["winner"] == winner
        # received only once Gamma closed it (6-8 s after the end); the retries are the unit tests' part
        assert doc["attempts"] >= 1 and doc["recv_ms"] >= market["closed_at_ms"]
    code, summary = verify(run.data_dir)
    assert code == 0, summary["problems"]
    markets_files = [f for f in summary["files"] if f["path"].startswith("markets/")]
    assert len(markets_files) == 1 and markets_files[0]["rows"] == len(docs)
    manifest = orjson.loads(next((run.data_dir / "markets").rglob("*.manifest.json")).read_bytes())
    assert manifest["records_by_kind"] == {"closed": len(closed), "first_seen": len(first_seen)}
    assert not manifest["recovered"]


def test_sigkill_leaves_a_markets_partial_that_the_next_start_seals(sim, collect, tmp_path):
    data_dir = tmp_path / "killed"
    run = collect(sim, "--interval", "0.5", "--series", "10684", data_dir=data_dir)
    closed_written = lambda: any(d["kind"] == "closed" for d in read_docs(data_dir, "*.partial"))  # noqa: E731
    assert wait_for(closed_written, 90), run.stdout
    run.stop(signal.SIGKILL)
    run.wait(timeout=30)
    [partial] = (data_dir / "markets").rglob("*.jsonl.gz.partial")
    with open(partial, "ab") as handle:  # a member cut short by the kill
        handle.write(gzip.compress(b'{"schema": 1}\n')[:15])
    before = read_docs(data_dir, "*.partial")
    code, summary = verify(data_dir)
    [left] = [p for p in summary["partials"] if p["path"].startswith("markets/")]
    assert code == 0 and left["state"] == "leftover" and left["tail_bytes"] == 15, summary["problems"]
    again = collect(sim, "--interval", "0.5", "--duration", "2", "--series", "10684", data_dir=data_dir)
    assert again.wait(timeout=60) == ExitCode.OK, again.stderr
    recovered = [
        orjson.loads(p.read_bytes())
        for p in (data_dir / "markets").rglob("*.manifest.json")
        if orjson.loads(p.read_bytes())["recovered"]
    ]
    assert len(recovered) == 1 and recovered[0]["bytes_dropped"] == 15
    assert recovered[0]["records"] == len(before)
    code, summary = verify(data_dir)
    assert code == 0, summary["problems"]
    assert summary["counts"]["partials_leftover"] == 0


def test_a_restart_fetches_the_close_missed_while_down_and_repeats_no_document(
    slow_close_sim, collect, tmp_path
):
    sim, data_dir = slow_close_sim, tmp_path / "restarted"
    first = collect(sim, "--interval", "0.5", "--duration", "4", "--series", "10684", data_dir=data_dir)
    assert first.wait(timeout=60) == ExitCode.OK, first.stderr
    before = read_docs(data_dir)
    open_ids = {d["condition_id"] for d in before if d["kind"] == "first_seen"} - {
        d["condition_id"] for d in before if d["kind"] == "closed"
    }
    truth = {
        m["condition_id"]: m
        for m in sim.markets_between(first.started_ms - 60_000, first.started_ms + 86_400_000)
    }
    earliest = min((truth[c] for c in open_ids), key=lambda m: m["closed_at_ms"])
    # down until the simulator has closed the earliest market the first run left open
    assert wait_for(lambda: time.time() * 1000 > earliest["closed_at_ms"] + 1_000, 60)
    restarted_ms = time.time_ns() // 1_000_000
    second = collect(sim, "--interval", "0.5", "--duration", "10", "--series", "10684", data_dir=data_dir)
    assert second.wait(timeout=90) == ExitCode.OK, second.stderr
    docs = read_docs(data_dir)
    kinds = [(d["condition_id"], d["kind"]) for d in docs]
    assert len(kinds) == len(set(kinds)), "a document written twice across the two runs"
    missed = [c for c in open_ids if truth[c]["closed_at_ms"] < restarted_ms]
    assert earliest["condition_id"] in missed
    closed = {d["condition_id"]: d for d in docs if d["kind"] == "closed"}
    for cid in missed:  # closed while no collector ran: documented by the second run
        assert closed[cid]["market"]["closed"] is True and closed[cid]["recv_ms"] >= restarted_ms
        assert closed[cid]["winner"] in truth[cid]["tokens"].values()
    code, summary = verify(data_dir)
    assert code == 0, summary["problems"]
    assert len([f for f in summary["files"] if f["path"].startswith("markets/")]) == 2
