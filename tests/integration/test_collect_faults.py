"""Every simulator fault class becomes failure records in the manifests; the process keeps collecting."""

import pytest
from orderbooks.exitcodes import ExitCode
from testkit.collect_runs import FAULT_CLASSES, unmatched_faults


@pytest.mark.parametrize("kind", sorted(FAULT_CLASSES))
def test_fault_kind_is_recorded_and_collection_continues(sim, collect, kind):
    sim.set_faults(
        mode="random",
        kinds=[kind],
        rate=0.25 if kind != "down" else 0.2,
        target="all",
        retry_after=1,
        slow_seconds=2.0,
        down_seconds=1.0,
    )
    run = collect(
        sim, "--interval", "0.5", "--duration", "7", "--series", "10684,10192", "--read-timeout", "1"
    )
    assert run.wait(timeout=60) == ExitCode.OK, run.stderr
    faults = sim.stats()["faults"]
    assert faults, "the simulator injected nothing"
    failures = run.failures()
    assert {f["error"] for f in failures} & FAULT_CLASSES[kind]
    assert unmatched_faults(faults, failures) == []
    assert run.rows(), "no rows at all despite only a share of requests failing"
    assert not list(run.data_dir.rglob("*.partial"))
