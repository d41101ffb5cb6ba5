"""The gate's pytest plugin: tests map to gates, outcomes and evidence land in one JSON file."""

from __future__ import annotations

import json

pytest_plugins = ["pytester"]

GATE_TESTS = """
import pytest

class Result:
    def __init__(self, rc, stdout):
        self.rc, self.stdout, self.stderr = rc, stdout, ""

class Host:
    def run(self, command):
        return Result(0, "active\\n")

@pytest.fixture
def host():
    return Host()

def test_unmarked_is_host_state():
    assert True

@pytest.mark.gate("restart")
def test_restart_records_commands(gate_evidence):
    assert gate_evidence.run("systemctl is-active x").stdout == "active\\n"
    gate_evidence.fact("sealed_before", 3)

@pytest.mark.gate("network")
def test_network_fails(gate_evidence):
    assert False, "collector restarted during the outage"

@pytest.mark.gate("upload")
def test_upload_skipped():
    pytest.skip("no remote")
"""


def test_plugin_writes_outcomes_and_evidence(pytester):
    pytester.makepyfile(test_gates=GATE_TESTS)
    out = pytester.path / "evidence.json"
    result = pytester.runpytest("-p", "gate.plugin", f"--gate-evidence={out}")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    document = json.loads(out.read_text())
    by_name = {t["nodeid"].split("::")[-1]: t for t in document["tests"]}
    assert by_name["test_unmarked_is_host_state"]["gate"] == "host_state"
    assert by_name["test_restart_records_commands"]["outcome"] == "passed"
    assert by_name["test_network_fails"]["outcome"] == "failed"
    assert "collector restarted during the outage" in by_name["test_network_fails"]["message"]
    assert by_name["test_upload_skipped"]["outcome"] == "skipped"
    restart = document["gates"]["restart"]
    assert restart["facts"] == {"sealed_before": 3}
    (command,) = restart["commands"]
    assert command["cmd"] == "systemctl is-active x" and command["rc"] == 0
