"""Acceptance ("Done when"): 60 s against 10-second windows with 30% random faults.

Runs in the default suite on purpose (about 65 s).
"""

import time

from orderbooks.exitcodes import ExitCode
from polysim import start_simulator
from test_collect_rollover import check_rows_against_sim
from testkit.collect_runs import unmatched_faults

DURATION = 60
#: Shorter than the simulator's 5 s slow answer, so a slow answer is always a timeout
#: (at the default 5 s the answer and the timeout race, and a loaded machine decides).
READ_TIMEOUT_S = "2"


def test_sixty_seconds_with_thirty_percent_faults(collect):
    with start_simulator(port=0, control_port=0, window_seconds=10, seed=7, fault_rate=0.3) as sim:
        started = time.monotonic()
        run = collect(sim, "--interval", "0.5", "--duration", str(DURATION), "--read-timeout", READ_TIMEOUT_S)
        code = run.wait(timeout=DURATION + 60)
        elapsed = time.monotonic() - started
        stats = sim.stats()
    assert code == ExitCode.OK, run.stderr
    assert elapsed >= DURATION  # never exits early
    rows = run.rows()
    assert rows
    check_rows_against_sim(sim, rows)  # no token paired with the wrong outcome
    # Rows for every window that was open (a full second inside the run), of every series.
    first, last = min(r["recv_ms"] for r in rows), max(r["recv_ms"] for r in rows)
    seen = {r["condition_id"] for r in rows}
    for m in sim.markets_between(first + 1_000, last - 1_000):
        assert m["condition_id"] in seen, m["slug"]
    # Every injected fault appears as a failure record in the manifests.
    faults = stats["faults"]
    assert len(faults) > 20
    failures = run.failures()
    assert all(m["failures_dropped"] == 0 for m in run.manifests())
    assert unmatched_faults(faults, failures) == []
    assert not list(run.data_dir.rglob("*.partial"))
