"""Protocol V2 market ids end to end: `orderbooks collect` against v2-only and mixed listings.

The simulator lists v2 markets with their ids in ``positionIds`` (on every
other window also a ``clobTokenIds`` string of ids without a book) and, in the
mixed listing, v1 markets beside them. The rows on disk must come from every
series, carry only the ids the CLOB serves (never the stale ones), pair them
with the right outcome, and no market may be lost to schema drift.
"""

import pytest
from orderbooks.exitcodes import ExitCode
from polysim import start_simulator
from test_collect_rollover import check_rows_against_sim

ALL_SERIES = "10684,10192,10114,10331,41"


@pytest.fixture(params=["v2", "mixed"])
def versioned_sim(request):
    handle = start_simulator(port=0, control_port=0, window_seconds=10, seed=5, market_version=request.param)
    try:
        yield handle
    finally:
        handle.stop()


def test_every_series_is_collected_with_the_ids_the_clob_serves(versioned_sim, collect):
    sim = versioned_sim
    run = collect(sim, "--interval", "0.5", "--duration", "12", "--series", ALL_SERIES)
    assert run.wait(timeout=90) == ExitCode.OK, run.stderr
    assert not list(run.data_dir.rglob("*.partial"))  # every file sealed
    rows = run.rows()
    assert rows
    check_rows_against_sim(sim, rows)  # each token is one the simulator lists, with its outcome
    assert {r["series"] for r in rows} == set(ALL_SERIES.split(","))
    first, last = min(r["recv_ms"] for r in rows), max(r["recv_ms"] for r in rows)
    listed = {m["condition_id"]: m for m in sim.markets_between(first - 60_000, last + 3_600_000)}
    stale = {t for m in listed.values() for t in m["legacy_ids"]}
    assert stale, "the listing held no stale clobTokenIds: the trap was not set"
    assert not stale & {r["token_id"] for r in rows}
    # The window of each series open at the middle of the run: rows for both of its ids.
    middle = (first + last) // 2
    for m in sim.markets_between(middle, middle + 1):
        assert {r["token_id"] for r in rows if r["condition_id"] == m["condition_id"]} == set(m["tokens"])
    versions = {listed[r["condition_id"]]["version"] for r in rows}
    assert versions == ({"v2"} if sim.catalog.market_version == "v2" else {"v1", "v2"})
    assert not [f for f in run.failures() if f["error"] in ("schema_drift", "discovery")]
