"""The gate over several hosts: the group's verdict needs every gate on every host,
and its report says which host failed what."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gate.report import build_group_manifest, render_group_summary, validate_manifest, write_report
from gate.verify_host import chosen_hosts
from test_gate_report import ALL_PASS, _manifest

from gate import verdict

REPO = Path(__file__).resolve().parents[2]


def _decide(*, disposable=True, soak=False, failed=None, reachable=True):
    gates = dict(ALL_PASS)
    if failed:
        gates[failed] = verdict.GateOutcome(verdict.FAIL, "service not active")
    return verdict.decide(
        reachable=reachable,
        disposable=disposable,
        gates=gates,
        soak_completed=soak,
        unreachable_reason="ssh: connection refused",
    )


# ---------------------------------------------------------------- verdict


def test_one_host_failing_fails_the_group_and_names_the_host():
    group = verdict.combine({"vps1": _decide(), "vps2": _decide(failed="network")})
    assert group.verdict == verdict.VERDICT_FAIL
    assert group.production_status == verdict.BLOCKED_NEEDS_VPS_ACCESS  # disposable hosts: never more
    assert group.reasons[0] == "host vps2: gate network FAIL: service not active"
    assert "host vps1: REHEARSAL_PASS" in group.reasons


def test_a_failing_real_host_blocks_on_the_gate():
    group = verdict.combine(
        {"vps1": _decide(disposable=False, soak=True), "vps2": _decide(disposable=False, failed="upload")}
    )
    assert (group.verdict, group.production_status) == (verdict.VERDICT_FAIL, verdict.BLOCKED_GATE_FAILED)
    assert group.reasons == ["host vps2: gate upload FAIL: service not active", "host vps1: PRODUCTION_READY"]


def test_every_disposable_host_passing_is_a_rehearsal_pass_only():
    group = verdict.combine({"a": _decide(), "b": _decide()})
    assert (group.verdict, group.production_status) == (
        verdict.REHEARSAL_PASS,
        verdict.BLOCKED_NEEDS_VPS_ACCESS,
    )
    assert [r.split(":")[0] for r in group.reasons] == ["host a", "host b"]


def test_the_group_is_as_ready_as_its_weakest_host():
    ready, pending = _decide(disposable=False, soak=True), _decide(disposable=False)
    assert ready.verdict == verdict.PRODUCTION_READY and pending.verdict == verdict.PENDING_SOAK
    group = verdict.combine({"vps1": ready, "vps2": pending})
    assert (group.verdict, group.production_status) == (verdict.PENDING_SOAK, verdict.BLOCKED_NEEDS_SOAK)
    assert verdict.combine({"vps1": ready, "vps2": ready}).verdict == verdict.PRODUCTION_READY
    # a disposable host in a real group keeps the group at REHEARSAL_PASS
    assert (
        verdict.combine({"vps1": ready, "local": _decide()}).production_status
        == verdict.BLOCKED_NEEDS_VPS_ACCESS
    )


def test_an_unreachable_host_blocks_the_group_and_a_failed_gate_outranks_it():
    group = verdict.combine({"vps1": _decide(), "vps2": _decide(reachable=False)})
    assert (group.verdict, group.production_status) == (
        verdict.BLOCKED_NEEDS_VPS_ACCESS,
        verdict.BLOCKED_NEEDS_VPS_ACCESS,
    )
    assert group.reasons[0] == "host vps2: ssh: connection refused"
    worse = verdict.combine({"vps1": _decide(failed="collecting"), "vps2": _decide(reachable=False)})
    assert worse.verdict == verdict.VERDICT_FAIL
    assert worse.reasons[:2] == [
        "host vps1: gate collecting FAIL: service not active",
        "host vps2: BLOCKED_NEEDS_VPS_ACCESS",
    ]


def test_one_host_is_its_own_decision():
    alone = _decide(failed="restart")
    assert verdict.combine({"vps1": alone}) == alone


# ---------------------------------------------------------------- manifest and report


def _host(name, failed=None):
    gates = dict(ALL_PASS)
    if failed:
        gates[failed] = verdict.GateOutcome(verdict.FAIL, "test_x failed: no rows after 30 s")
    manifest = _manifest(verdict.decide(reachable=True, disposable=True, gates=gates, soak_completed=False))
    manifest["target"] = dict(manifest["target"], name=name)
    for gate in manifest["gates"]:
        if gate["name"] == failed:
            gate.update(status=verdict.FAIL, reason="test_x failed: no rows after 30 s")
            gate["tests"][0]["outcome"] = "failed"
    return manifest


def _group(hosts):
    decision = verdict.combine({name: _decision_of(m) for name, m in hosts.items()})
    return build_group_manifest(
        decision=decision,
        started_at="2026-11-21T10:00:00.000Z",
        finished_at="2026-11-21T10:09:00.000Z",
        duration_s=540.0,
        inventory="inventory.ini",
        hosts=list(hosts),
        host_manifests=hosts,
        commands=[],
    )


def _decision_of(manifest):
    from gate.verdict import Decision

    return Decision(manifest["verdict"], manifest["production_status"], manifest["reasons"])


def test_group_manifest_carries_each_host_and_the_group_verdict(tmp_path):
    manifest = _group({"vps1": _host("vps1"), "vps2": _host("vps2", failed="network")})
    validate_manifest(manifest)
    assert manifest["scope"] == "group" and manifest["verdict"] == verdict.VERDICT_FAIL
    by_host = {h["name"]: h for h in manifest["hosts"]}
    assert by_host["vps1"]["verdict"] == verdict.REHEARSAL_PASS
    assert by_host["vps2"]["verdict"] == verdict.VERDICT_FAIL
    assert by_host["vps2"]["gates"]["network"]["status"] == verdict.FAIL
    assert by_host["vps2"]["report"] == "hosts/vps2/report.md"
    gates = {g["name"]: g for g in manifest["gates"]}
    assert gates["network"]["status"] == verdict.FAIL
    assert gates["network"]["reason"] == "vps2: FAIL test_x failed: no rows after 30 s"
    assert gates["network"]["facts"]["status_by_host"] == {"vps1": verdict.PASS, "vps2": verdict.FAIL}
    assert gates["collecting"]["status"] == verdict.PASS
    assert {f["host"] for f in manifest["files"]} == {"vps1", "vps2"}
    # risks both hosts share appear once
    assert manifest["risks"].count("disposable VPS only") == 1

    folder = write_report(manifest, tmp_path, epoch_s=1_800_000_000)
    text = (folder / "report.md").read_text()
    first_screen = text.splitlines()[:40]
    assert len(text.splitlines()) <= 40
    assert first_screen[0] == "# Production gate: FAIL (group of 2 hosts)"
    assert "- host vps2: gate network FAIL: test_x failed: no rows after 30 s" in first_screen
    assert "| vps2 | **FAIL** | network | [hosts/vps2/report.md](hosts/vps2/report.md) |" in first_screen
    assert "| vps1 | **REHEARSAL_PASS** | - | [hosts/vps1/report.md](hosts/vps1/report.md) |" in first_screen
    assert "| network | PASS | **FAIL**: test_x failed: no rows after 30 s |" in first_screen
    appendix = (folder / "appendix.md").read_text()
    assert "vps2: `gate/src/gate/gates/t.py::test_x`" in appendix


def test_a_host_report_inside_the_group_folder(tmp_path):
    host = _host("vps1")
    folder = write_report(host, tmp_path / "hosts", folder_name="vps1")
    assert folder == tmp_path / "hosts" / "vps1"
    assert (folder / "report.md").read_text().startswith("# Production gate: REHEARSAL_PASS")
    validate_manifest(json.loads((folder / "manifest.json").read_text()))


def test_group_summary_of_passing_hosts():
    text = render_group_summary(_group({"a": _host("a"), "b": _host("b")}))
    assert text.startswith("# Production gate: REHEARSAL_PASS (group of 2 hosts)")
    assert "| host_state | PASS | PASS |" in text


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (None, (["vps1", "vps2"], None)),
        ("vps2", (["vps2"], None)),
        ("vps2, vps1", (["vps2", "vps1"], None)),
    ],
)
def test_chosen_hosts(limit, expected):
    assert chosen_hosts(["vps1", "vps2"], limit, "orderbooks") == expected


def test_chosen_hosts_names_an_unknown_host():
    names, problem = chosen_hosts(["vps1", "vps2"], "vps3", "orderbooks")
    assert names == ["vps3"] and "vps3" in problem


# ---------------------------------------------------------------- the runner on a two-host inventory


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_runner_judges_every_host_of_the_inventory(tmp_path):
    """Two hosts nobody answers for (real ansible, a closed port): each host is
    BLOCKED_NEEDS_VPS_ACCESS, so is the group, and each host has its own report."""
    port = _closed_port()
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[orderbooks]\n"
        f"vps1 ansible_host=127.0.0.1 ansible_port={port} ansible_user=root\n"
        f"vps2 ansible_host=127.0.0.1 ansible_port={port} ansible_user=root\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gate.verify_host",
            "--inventory",
            str(inventory),
            "--reports-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "verdict: BLOCKED_NEEDS_VPS_ACCESS" in lines
    assert any(line.startswith("host vps1: BLOCKED_NEEDS_VPS_ACCESS") for line in lines)
    manifest_path = Path([line for line in lines if line.startswith("manifest: ")][-1].split(": ", 1)[1])
    manifest = json.loads(manifest_path.read_text())
    validate_manifest(manifest)
    assert manifest["scope"] == "group"
    assert [h["name"] for h in manifest["hosts"]] == ["vps1", "vps2"]
    assert manifest["reasons"][0].startswith("host vps1: host vps1 does not answer over SSH")
    for name in ("vps1", "vps2"):
        own = json.loads((manifest_path.parent / "hosts" / name / "manifest.json").read_text())
        assert own["target"]["name"] == name and own["verdict"] == verdict.BLOCKED_NEEDS_VPS_ACCESS

    only = subprocess.run(
        [sys.executable, "-m", "gate.verify_host", "--inventory", str(inventory), "--reports-dir",
         str(tmp_path / "one"), "--limit", "vps2"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert only.returncode == 1
    one = json.loads(Path(only.stdout.split("manifest: ")[-1].strip()).read_text())
    assert one["scope"] == "host" and one["target"]["name"] == "vps2"
    assert [h["name"] for h in one["hosts"]] == ["vps2"]
