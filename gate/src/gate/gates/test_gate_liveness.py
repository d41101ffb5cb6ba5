"""Gate liveness: a frozen collector is killed and restarted by the systemd watchdog.

`orderbooks status` must be healthy before; the collector is SIGSTOPped (a
frozen process: it stops sending WATCHDOG=1); systemd must kill and restart
it by itself within WatchdogSec + TimeoutAbortSec + RestartSec plus a margin;
status must be healthy again afterwards and the Prometheus textfile fresh.
The host is left as found: a stopped process is continued if it is still
there at the end, and the collector is running.
"""

import json

import pytest
from gate.evidence import Pending

from gate import checks

pytestmark = [pytest.mark.host, pytest.mark.gate("liveness")]

#: Slack on top of the unit's own bound, for a loaded machine (seconds).
RESTART_MARGIN_S = 30.0
HEALTHY_DEADLINE_S = 180.0
#: The monitor rewrites the metrics file every 30 s.
METRICS_FRESH_S = 45.0


def status(ev) -> dict:
    where = checks.LAYOUT
    result = ev.run(f"runuser -u {where.user} -- {where.command} status --data-dir {where.data_dir} --json")
    assert result.rc in (0, 1), f"orderbooks status failed ({result.rc}): {result.stderr.strip()}"
    return json.loads(result.stdout)


def wait_healthy(ev, description: str, pid: str | None = None) -> dict:
    """Healthy, and (with *pid*) from the state of that collector process."""

    def check():
        report = status(ev)
        seen = str((report.get("collector") or {}).get("pid"))
        if pid is not None and seen != pid:
            return Pending(f"state of pid {seen}, waiting for {pid}")
        return report if report["healthy"] else Pending(str([a["name"] for a in report["alarms"]]))

    return ev.poll(description, check, deadline_s=HEALTHY_DEADLINE_S, every_s=3.0)


def metrics_age_s(ev, path: str) -> float:
    result = ev.run(f"echo $(( $(date +%s) - $(stat -c %Y {path}) ))")
    assert result.rc == 0, f"{path} missing: {result.stderr.strip()}"
    return float(result.stdout.strip())


def usec(value: str) -> float:
    """systemd's '30s' / '1min 30s' / '100ms' as seconds."""
    total = 0.0
    for part in value.split():
        for unit, factor in (("min", 60.0), ("ms", 0.001), ("us", 1e-6), ("s", 1.0)):
            if part.endswith(unit):
                total += float(part[: -len(unit)]) * factor
                break
    return total


@pytest.fixture
def continue_if_stopped(gate_evidence):
    stopped: list[str] = []
    yield stopped
    for pid in stopped:
        gate_evidence.run(f"kill -CONT {pid} 2>/dev/null || true")
    state = checks.unit_state(gate_evidence, checks.LAYOUT.collector_unit)
    if state.get("ActiveState") != "active":
        gate_evidence.run(f"systemctl start {checks.LAYOUT.collector_unit}", timeout_s=180)


def test_frozen_collector_is_restarted_by_the_watchdog(gate_evidence, continue_if_stopped):
    ev = gate_evidence
    env = checks.read_env(ev, checks.LAYOUT.collector_env_file)
    metrics_file = env.get("ORDERBOOKS_METRICS_FILE", "")
    start = checks.require_active(ev)
    limits = ev.run(
        "systemctl show -p WatchdogUSec -p TimeoutAbortUSec -p RestartUSec -p Type "
        + checks.LAYOUT.collector_unit
    )
    unit = dict(line.split("=", 1) for line in limits.stdout.splitlines() if "=" in line)
    ev.fact("unit", unit)
    assert unit.get("Type") == "notify", f"the collector is Type={unit.get('Type')}, not notify"
    watchdog_s = usec(unit.get("WatchdogUSec", "0"))
    assert watchdog_s > 0, "the collector has no WatchdogSec="
    bound = watchdog_s + usec(unit.get("TimeoutAbortUSec", "0")) + usec(unit.get("RestartUSec", "0"))
    bound += RESTART_MARGIN_S
    ev.fact("restart_bound_s", bound)

    before = wait_healthy(ev, "status healthy before the freeze")
    ev.fact("status_before", {"healthy": before["healthy"], "collector": before.get("collector")})
    assert metrics_file, "ORDERBOOKS_METRICS_FILE is not set in collector.env"
    age = ev.poll(
        "metrics file fresh",
        lambda: a if (a := metrics_age_s(ev, metrics_file)) <= METRICS_FRESH_S else Pending(f"{a} s old"),
        deadline_s=90.0,
        every_s=3.0,
    )
    ev.fact("metrics_age_s", age)
    text = ev.run(f"cat {metrics_file}").stdout
    for name in ("orderbooks_last_row_timestamp_seconds", "orderbooks_alarm{", "orderbooks_rows_total"):
        assert name in text, f"{name} missing from {metrics_file}"

    pid = start["MainPID"]
    stop_s = checks.host_now_ms(ev) // 1000
    continue_if_stopped.append(pid)
    result = ev.run(f"kill -STOP {pid}")
    assert result.rc == 0, f"kill -STOP failed: {result.stderr.strip()}"
    after = checks.wait_active(
        ev, "collector restarted by the watchdog", other_than_pid=pid, deadline_s=bound
    )
    restarted_s = checks.host_now_ms(ev) / 1000
    restarts = int(after["NRestarts"]) - int(start["NRestarts"])
    ev.fact("restarts", restarts)
    assert restarts == 1, f"{restarts} restarts after one freeze"
    journal = ev.run(
        f"journalctl -u {checks.LAYOUT.collector_unit} --since @{stop_s} -o cat --no-pager"
    ).stdout
    assert "Watchdog timeout" in journal, "the restart was not the watchdog's"

    after_status = wait_healthy(ev, "status healthy after the restart", pid=after["MainPID"])
    ev.fact(
        "status_after",
        {"healthy": after_status["healthy"], "restarts_24h": after_status["collector"]["restarts_24h"]},
    )

    # Written by the restarted process, not left over from the frozen one.
    def rewritten():
        mtime = float(ev.run(f"stat -c %Y {metrics_file}").stdout.strip() or 0)
        return (
            mtime
            if mtime >= int(restarted_s)
            else Pending(f"last written {restarted_s - mtime:.0f} s before")
        )

    mtime = ev.poll("metrics file rewritten after the restart", rewritten, deadline_s=90.0, every_s=3.0)
    ev.fact("metrics_rewritten_after_restart_s", round(mtime - restarted_s, 1))
