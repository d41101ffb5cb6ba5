"""Liveness on a provisioned host: watchdog, status, alarms, metrics, journal priorities, bad config.

    ORDERBOOKS_HOST_SIM_CONTROL=http://127.0.0.1:<control port> \
    ORDERBOOKS_HOST_EXTRA_VARS=.vps/<name>-run/test-vars.json \
    pytest --hosts=ansible://orderbooks --ansible-inventory=.vps/<name>/inventory.ini \
        tests/host/test_liveness.py

Real systemd, the real collector, the simulator on the controller (its fault
API makes the outage). Every test leaves the collector running and healthy.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from gate import checks

pytestmark = pytest.mark.host

ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "ansible"
#: Deadlines of the issue's "Done when" list (seconds).
ALARM_DEADLINE_S = 90
HEALTHY_DEADLINE_S = 180
#: Slack on top of WatchdogSec + TimeoutAbortSec + RestartSec for a loaded machine.
RESTART_MARGIN_S = 30
METRICS = (
    "orderbooks_last_row_timestamp_seconds",
    "orderbooks_rows_total",
    "orderbooks_failures_total",
    "orderbooks_tracked_tokens{series=",
    "orderbooks_disk_free_bytes",
    "orderbooks_offload_oldest_unverified_age_seconds",
    'orderbooks_alarm{name="no_rows"}',
)


def props(host, *names: str) -> dict[str, str]:
    out = host.check_output(
        "systemctl show %s " + " ".join(f"-p {n}" for n in names), checks.LAYOUT.collector_unit
    )
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def status(host) -> tuple[int, dict]:
    with host.sudo(checks.LAYOUT.user):
        result = host.run(f"{checks.LAYOUT.command} status --data-dir {checks.LAYOUT.data_dir} --json")
    assert result.rc in (0, 1), f"status failed ({result.rc}): {result.stderr}"
    return result.rc, json.loads(result.stdout)


def wait_status(host, healthy: bool, deadline_s: float, alarm: str | None = None) -> tuple[float, dict]:
    start = time.monotonic()
    while True:
        rc, report = status(host)
        names = {a["name"] for a in report["alarms"]}
        if report["healthy"] is healthy and (rc == 0) is healthy and (alarm is None or alarm in names):
            return time.monotonic() - start, report
        assert time.monotonic() - start < deadline_s, (
            f"status not {'healthy' if healthy else 'alarmed'} within {deadline_s} s: {report['alarms']}"
        )
        time.sleep(2)


def faults(config: dict) -> None:
    control = os.environ.get("ORDERBOOKS_HOST_SIM_CONTROL")
    if not control:
        pytest.fail("needs ORDERBOOKS_HOST_SIM_CONTROL (the simulator's control URL)")
    path = "/reset" if config.get("mode") == "none" else "/faults"
    request = urllib.request.Request(
        control + path, data=json.dumps(config).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def healthy_collector(host):
    """The collector is active and `status` says healthy before and after the test."""
    wait_status(host, True, HEALTHY_DEADLINE_S)
    yield
    faults({"mode": "none"})
    if props(host, "ActiveState")["ActiveState"] != "active":
        with host.sudo():
            host.run(
                "systemctl reset-failed %s; systemctl start %s",
                checks.LAYOUT.collector_unit,
                checks.LAYOUT.collector_unit,
            )
    wait_status(host, True, HEALTHY_DEADLINE_S)


def test_unit_is_notify_with_a_watchdog_and_no_config_crash_loop(host):
    p = props(
        host, "Type", "NotifyAccess", "WatchdogUSec", "RestartPreventExitStatus", "ExecStartPre", "Restart"
    )
    assert p["Type"] == "notify"
    assert p["NotifyAccess"] == "main"
    assert p["WatchdogUSec"] == "30s"
    assert p["RestartPreventExitStatus"].split() == ["2"]
    assert "check-config" in p["ExecStartPre"]
    assert p["Restart"] == "always"


def test_status_is_healthy_and_metrics_fresh_while_collecting(host, healthy_collector):
    _, report = wait_status(host, True, HEALTHY_DEADLINE_S)
    collector = report["collector"]
    assert collector["last_row_age_s"] is not None and collector["last_row_age_s"] < 30
    assert collector["rows_last_hour"] > 0
    assert sum(s["tokens"] for s in collector["series"].values()) > 0
    assert "free_bytes" in report["disk"]
    assert report["clock"]["container"], "the disposable VPS is a container sharing the host clock"
    deadline = time.monotonic() + 90
    while True:
        with host.sudo():
            age = float(
                host.check_output(f"echo $(( $(date +%s) - $(stat -c %Y {checks.LAYOUT.metrics_file}) ))")
            )
        if age <= 45:
            break
        assert time.monotonic() < deadline, f"{checks.LAYOUT.metrics_file} is {age} s old"
        time.sleep(2)
    metrics_file = host.file(checks.LAYOUT.metrics_file)
    assert metrics_file.mode == 0o644
    text = metrics_file.content_string
    for name in METRICS:
        assert name in text, f"{name} missing from {checks.LAYOUT.metrics_file}"
    assert 'orderbooks_alarm{name="no_rows"} 0' in text


def test_api_outage_alarms_within_90_s_and_warns_in_the_journal(host, healthy_collector):
    since = host.check_output("date +%s")
    pid = props(host, "MainPID")["MainPID"]
    faults({"mode": "5xx", "target": "all", "rate": 1.0})
    elapsed, report = wait_status(host, False, ALARM_DEADLINE_S, alarm="no_rows")
    print(f"no_rows after {elapsed:.1f} s of the outage: {report['alarms']}")
    with host.sudo():
        warnings = host.check_output(
            f"journalctl -u {checks.LAYOUT.collector_unit} -p warning --since @{since} -o cat --no-pager"
        )
    # one signal per outage: its start is a warning; each failed attempt is debug detail
    assert "outage_started" in warnings, "no collector warning in journalctl -p warning"
    levels = {json.loads(line)["level"] for line in warnings.splitlines() if line.startswith("{")}
    assert levels <= {"warning", "error", "critical"}, f"lower levels leak into -p warning: {levels}"
    faults({"mode": "none"})
    wait_status(host, True, HEALTHY_DEADLINE_S)
    assert props(host, "MainPID")["MainPID"] == pid, "the outage restarted the collector"


def test_sigstopped_collector_is_restarted_by_the_watchdog(host, healthy_collector):
    p = props(host, "MainPID", "NRestarts", "WatchdogUSec", "TimeoutAbortUSec", "RestartUSec")
    pid = int(p["MainPID"])
    _, before = status(host)
    run_id = before["collector"]["run_id"]
    bound = 30 + 10 + 1 + RESTART_MARGIN_S
    with host.sudo():
        host.check_output("kill -STOP %s", str(pid))
    start = time.monotonic()
    while True:
        now = props(host, "MainPID", "ActiveState", "NRestarts")
        if now["ActiveState"] == "active" and now["MainPID"] not in ("0", str(pid)):
            break
        elapsed = time.monotonic() - start
        assert elapsed < bound, f"not restarted within {bound} s: {now}"
        time.sleep(1)
    elapsed = time.monotonic() - start
    print(f"watchdog restart after {elapsed:.1f} s (bound {bound} s)")
    assert int(now["NRestarts"]) == int(p["NRestarts"]) + 1
    with host.sudo():
        journal = host.check_output(f"journalctl -u {checks.LAYOUT.collector_unit} -n 200 -o cat --no-pager")
    assert "Watchdog timeout" in journal, "systemd did not report a watchdog timeout"
    # The frozen run's open file was recovered at the restart: a `restart` gap in its manifest.
    with host.sudo():
        found = host.check_output(
            "grep -l '\"cause\": *\"restart\"' $(grep -l %s -r %s/raw --include '*.manifest.json') || true",
            run_id,
            checks.LAYOUT.data_dir,
        )
    assert found.strip(), f"no manifest of run {run_id} with a restart gap"
    wait_status(host, True, HEALTHY_DEADLINE_S)


def test_config_error_exits_2_and_is_not_restarted(host, healthy_collector):
    dropin = f"/run/systemd/system/{checks.LAYOUT.collector_unit}.d/zz-liveness-test.conf"
    with host.sudo():
        host.check_output("mkdir -p %s", os.path.dirname(dropin))
        host.check_output(f"printf '[Service]\\nEnvironment=ORDERBOOKS_INTERVAL=banana\\n' > {dropin}")
        host.check_output("systemctl daemon-reload")
        result = host.run("systemctl restart %s", checks.LAYOUT.collector_unit)
    try:
        assert result.rc != 0
        time.sleep(5)  # several RestartSec=1 periods: a restart loop would show
        p = props(host, "ActiveState", "Result", "ExecMainStatus", "NRestarts")
        assert (p["ActiveState"], p["ExecMainStatus"]) == ("failed", "2"), p
        with host.sudo():
            journal = host.check_output(
                f"journalctl -u {checks.LAYOUT.collector_unit} -n 30 -o cat --no-pager"
            )
        assert "ORDERBOOKS_INTERVAL='banana'" in journal
    finally:
        with host.sudo():
            host.run("rm -f %s", dropin)
            host.run(
                "systemctl daemon-reload; systemctl reset-failed %s; systemctl start %s",
                checks.LAYOUT.collector_unit,
                checks.LAYOUT.collector_unit,
            )


def test_cutover_with_a_bad_value_fails_and_the_collector_keeps_running(host, healthy_collector, request):
    before = props(host, "MainPID", "NRestarts")
    with host.sudo():
        env_before = host.check_output("sha256sum %s", checks.LAYOUT.collector_env_file)
    result = ansible_playbook(request, "-e", "orderbooks_collector_interval=banana")
    assert result.returncode != 0, "site.yml accepted interval=banana"
    assert "ORDERBOOKS_INTERVAL='banana'" in result.stdout, result.stdout[-3000:]
    assert props(host, "MainPID", "NRestarts") == before, "the collector was restarted"
    with host.sudo():
        assert host.check_output("sha256sum %s", checks.LAYOUT.collector_env_file) == env_before
        environ = host.check_output("tr '\\0' '\\n' < /proc/%s/environ", before["MainPID"])
    assert "banana" not in environ


def test_cutover_with_a_removed_variable_stops_before_changing_the_host(host, healthy_collector, request):
    """An inventory that still sets a removed per-role copy of the host layout
    (here orderbooks_systemd_data_dir) stops site.yml naming the variable to set
    instead, before any task changes the host: the collector keeps running."""
    before = props(host, "MainPID", "NRestarts")
    elsewhere = "/var/tmp/orderbooks-removed-variable-test"
    result = ansible_playbook(request, "-e", f"orderbooks_systemd_data_dir={elsewhere}")
    assert result.returncode != 0, "site.yml accepted a removed variable"
    said = " ".join(result.stdout.split())
    refusal = "orderbooks_systemd_data_dir is set but no longer read: set orderbooks_common_data_dir instead."
    assert refusal in said, result.stdout[-3000:]
    recap = [line for line in result.stdout.splitlines() if line.startswith("vps-")]
    assert recap and all(" changed=0 " in line and " failed=1 " in line for line in recap), recap
    assert props(host, "MainPID", "NRestarts") == before, "the collector was restarted"
    assert not host.file(elsewhere).exists


def test_cutover_whose_collector_cannot_start_fails_with_the_journal_tail(host, healthy_collector, request):
    """A value check-config accepts but the host refuses (an unwritable data folder):
    the restart handler's readiness check fails the play and shows the journal."""
    bad = json.dumps({"orderbooks_collector_extra_env": {"data_dir": "/proc/orderbooks-liveness-test"}})
    try:
        result = ansible_playbook(request, "-e", bad)
        assert result.returncode != 0, "site.yml passed with a collector that cannot start"
        assert "after its restart" in result.stdout and "Journal tail" in result.stdout, result.stdout[-3000:]
        assert "is not writable" in result.stdout, "the journal tail does not show the collector's error"
    finally:
        restored = ansible_playbook(request)
    assert restored.returncode == 0, restored.stdout[-3000:]


def ansible_playbook(request, *args: str) -> subprocess.CompletedProcess[str]:
    inventory = request.config.getoption("ansible_inventory")
    extra = os.environ.get("ORDERBOOKS_HOST_EXTRA_VARS")
    if not inventory or not extra:
        pytest.fail("needs --ansible-inventory and ORDERBOOKS_HOST_EXTRA_VARS")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [
        "ansible-playbook",
        "site.yml",
        "-i",
        str(Path(inventory).resolve()),
        "-e",
        f"@{Path(extra).resolve()}",
    ]
    return subprocess.run(
        [*cmd, *args], cwd=ANSIBLE_DIR, capture_output=True, text=True, env=env, check=False
    )
