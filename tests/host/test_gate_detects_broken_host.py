"""The production gate must fail a broken host, and say which gate failed.

Stops and masks the collector on the inventory's host, runs the whole gate
(``gate.verify_host``), and expects the verdict FAIL with the collecting gate
failing because the collector is not active. The collector is unmasked and
started again whatever happens.

    make gate-selftest INVENTORY=.vps/default/inventory.ini
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gate.checks import wait_active
from gate.evidence import GateEvidence

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]


#: Runtime unit folder that precedes /etc/systemd/system (``systemd-analyze unit-paths``).
CONTROL_DIR = "/run/systemd/system.control"


@pytest.fixture
def broken_host(host, layout):
    """Collector stopped and masked until the test ends.

    ``systemctl mask`` refuses when the unit file itself is in
    /etc/systemd/system, and ``mask --runtime`` (/run/systemd/system) ranks
    below it; a /dev/null link in /run/systemd/system.control ranks above it,
    masks the unit the same way, and cannot outlive a reboot.
    """
    ev = GateEvidence("selftest", host)
    unit = layout.collector_unit
    control_mask = f"{CONTROL_DIR}/{unit}"
    assert ev.run(f"systemctl stop {unit}").rc == 0
    if ev.run(f"systemctl mask --runtime {unit}").rc != 0 or "masked" not in load_state(ev, unit):
        link = f"mkdir -p /run/systemd/system.control && ln -sfn /dev/null {control_mask}"
        assert ev.run(f"{link} && systemctl daemon-reload").rc == 0
    assert load_state(ev, unit) == "masked"
    yield
    ev.run(f"systemctl unmask --runtime {unit}; rm -f {control_mask}; systemctl daemon-reload")
    assert ev.run(f"systemctl start {unit}").rc == 0
    wait_active(ev, "collector back after the self-test")


def load_state(ev, unit: str) -> str:
    return ev.run(f"systemctl show -p LoadState --value {unit}").stdout.strip()


def test_masked_collector_gives_fail_naming_the_gate(request, broken_host, tmp_path):
    inventory = request.config.getoption("ansible_inventory")
    assert inventory, "run with --ansible-inventory=INVENTORY"
    reports = Path(os.environ.get("GATE_SELFTEST_REPORTS", tmp_path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gate.verify_host",
            "--inventory",
            inventory,
            "--reports-dir",
            str(reports),
            "--expect",
            "FAIL",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    print(done.stdout[-3000:])
    assert done.returncode == 0, f"the gate did not give FAIL:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    report_line = [line for line in done.stdout.splitlines() if line.startswith("manifest: ")][-1]
    manifest = json.loads(Path(report_line.split(": ", 1)[1]).read_text())
    assert manifest["verdict"] == "FAIL"
    gates = {g["name"]: g for g in manifest["gates"]}
    assert gates["collecting"]["status"] == "FAIL"
    assert "not active" in gates["collecting"]["reason"], gates["collecting"]["reason"]
    assert any(r.startswith("gate collecting FAIL") for r in manifest["reasons"]), manifest["reasons"]
    assert "load state masked" in gates["collecting"]["reason"], gates["collecting"]["reason"]
