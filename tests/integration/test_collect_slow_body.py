"""A CLOB that sends its body one byte every 0.5 s never trips an idle read
timeout: the whole exchange still has a limit, so the real process records
timeouts, keeps its schedule and ends on SIGTERM instead of hanging."""

import signal
import time

from orderbooks.exitcodes import ExitCode


def drip_clob(sim) -> None:
    sim.set_faults(mode="drip", target="clob", rate=1.0, drip_seconds=0.5)


def test_a_trickling_body_is_a_timeout_and_the_run_ends_on_time(sim, collect):
    drip_clob(sim)
    run = collect(sim, "--interval", "1", "--duration", "10", "--series", "10684", "--read-timeout", "5")
    # Without an overall limit the first poll reads for minutes: the run cannot end.
    assert run.wait(timeout=90) == ExitCode.OK, run.stderr
    assert any(f["kind"] == "drip" for f in sim.stats()["faults"]), "the simulator dripped nothing"
    timeouts = [f for f in run.failures() if f["error"] == "timeout" and "/book" in (f.get("endpoint") or "")]
    assert timeouts, {f["error"] for f in run.failures()}
    assert run.rows() == []  # every book answer trickled: nothing complete to write
    assert not list(run.data_dir.rglob("*.partial"))


def test_sigterm_ends_collect_while_a_body_trickles(sim, collect):
    drip_clob(sim)
    run = collect(sim, "--interval", "1", "--series", "10684", "--read-timeout", "5")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(f["kind"] == "drip" for f in sim.stats()["faults"]):
        time.sleep(0.2)
    assert any(f["kind"] == "drip" for f in sim.stats()["faults"]), "no poll reached the CLOB"
    run.stop(signal.SIGTERM)
    # The unit's stop timeout is 30 s; the run ends well inside it.
    assert run.wait(timeout=30) == ExitCode.OK, run.stderr
