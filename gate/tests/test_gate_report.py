"""The gate's verdict logic, the soak rule, and the report it writes."""

from __future__ import annotations

import json

import jsonschema
import pytest
from gate.report import (
    build_manifest,
    decided_by,
    gate_outcomes,
    render_markdown,
    render_summary,
    validate_manifest,
    write_report,
)
from gate.soak import HOUR_MS, merge_spans, soak_report_status, soak_status
from gate.verdict import (
    BLOCKED_GATE_FAILED,
    BLOCKED_NEEDS_SOAK,
    BLOCKED_NEEDS_VPS_ACCESS,
    FAIL,
    NOT_RUN,
    PASS,
    PENDING_SOAK,
    PRODUCTION_READY,
    REHEARSAL_PASS,
    VERDICT_FAIL,
    GateOutcome,
    decide,
    disposable_evidence,
    exit_code_for,
)

from gate import GATES

ALL_PASS = {name: GateOutcome(PASS) for name in GATES}


# ---------------------------------------------------------------- verdict


def test_real_vps_all_gates_and_soak_is_production_ready():
    decision = decide(reachable=True, disposable=False, gates=ALL_PASS, soak_completed=True)
    assert (decision.verdict, decision.production_status) == (PRODUCTION_READY, PRODUCTION_READY)


def test_real_vps_without_soak_is_not_ready():
    decision = decide(reachable=True, disposable=False, gates=ALL_PASS, soak_completed=False)
    assert (decision.verdict, decision.production_status) == (PENDING_SOAK, BLOCKED_NEEDS_SOAK)


@pytest.mark.parametrize("soak", [True, False])
def test_disposable_vps_gives_at_most_rehearsal_pass(soak):
    decision = decide(reachable=True, disposable=True, gates=ALL_PASS, soak_completed=soak)
    assert (decision.verdict, decision.production_status) == (REHEARSAL_PASS, BLOCKED_NEEDS_VPS_ACCESS)


@pytest.mark.parametrize("disposable", [True, False])
def test_unreachable_host_is_blocked(disposable):
    decision = decide(
        reachable=False,
        disposable=disposable,
        gates=ALL_PASS,
        soak_completed=True,
        unreachable_reason="ssh: connection refused",
    )
    assert decision.verdict == BLOCKED_NEEDS_VPS_ACCESS
    assert decision.production_status == BLOCKED_NEEDS_VPS_ACCESS
    assert decision.reasons == ["ssh: connection refused"]


@pytest.mark.parametrize("failed_gate", GATES)
def test_any_failed_gate_fails_and_is_named(failed_gate):
    gates = dict(ALL_PASS, **{failed_gate: GateOutcome(FAIL, "service not active")})
    decision = decide(reachable=True, disposable=False, gates=gates, soak_completed=True)
    assert decision.verdict == VERDICT_FAIL
    assert decision.production_status == BLOCKED_GATE_FAILED
    assert decision.reasons == [f"gate {failed_gate} FAIL: service not active"]


def test_missing_gate_counts_as_failed_on_disposable_host():
    gates = {k: v for k, v in ALL_PASS.items() if k != "upload"}
    decision = decide(reachable=True, disposable=True, gates=gates, soak_completed=False)
    assert decision.verdict == VERDICT_FAIL
    assert decision.production_status == BLOCKED_NEEDS_VPS_ACCESS
    assert decision.reasons == ["gate upload NOT_RUN: the gate did not run"]


def test_exit_codes():
    assert exit_code_for(REHEARSAL_PASS) == 0
    assert exit_code_for(PRODUCTION_READY) == 0
    assert exit_code_for(VERDICT_FAIL) == 1
    assert exit_code_for(BLOCKED_NEEDS_VPS_ACCESS) == 1
    assert exit_code_for(REHEARSAL_PASS, expect=VERDICT_FAIL) == 1
    assert exit_code_for(VERDICT_FAIL, expect=VERDICT_FAIL) == 0


@pytest.mark.parametrize(
    ("flag", "virt", "expected"),
    [
        (True, "none", ["inventory sets orderbooks_disposable_vps=true"]),
        ("true", "kvm", ["inventory sets orderbooks_disposable_vps=true"]),
        (None, "systemd-nspawn\n", ["systemd-detect-virt says systemd-nspawn"]),
        ("false", "kvm", []),
        (None, None, []),
    ],
)
def test_disposable_evidence(flag, virt, expected):
    assert disposable_evidence(flag, virt) == expected


# ---------------------------------------------------------------- soak

NOW = 1_800_000_000_000 + 25 * 60_000  # 25 minutes into an hour


def test_soak_complete_with_continuous_data():
    start = NOW - 30 * HOUR_MS
    status = soak_status([(start, NOW)], NOW)
    assert status["completed"] is True
    assert status["hours_covered"] == 24


def test_soak_incomplete_with_a_missing_hour():
    hour = HOUR_MS
    current = NOW - NOW % hour
    spans = [(current - 24 * hour, current - 5 * hour), (current - 4 * hour, NOW)]
    status = soak_status(spans, NOW)
    assert status["completed"] is False
    assert status["hours_covered"] == 23


def test_soak_incomplete_when_too_young():
    status = soak_status([(NOW - 3 * HOUR_MS, NOW)], NOW)
    assert status["completed"] is False
    assert status["hours_covered"] == 2


def test_soak_counts_files_of_one_hour_together():
    current = NOW - NOW % HOUR_MS
    halves = []
    for k in range(1, 25):
        start = current - k * HOUR_MS
        halves += [(start, start + HOUR_MS // 2), (start + HOUR_MS // 2 + 1000, start + HOUR_MS)]
    assert soak_status(halves, NOW)["completed"] is True


def test_merge_spans():
    assert merge_spans([(5, 9), (1, 3), (2, 4), (9, 9)]) == [(1, 4), (5, 9)]


# ---------------------------------------------------------------- gate outcomes


def _test(gate, outcome, message=None, name="test_x"):
    return {
        "nodeid": f"gate/src/gate/gates/t.py::{name}",
        "gate": gate,
        "when": "call",
        "outcome": outcome,
        "duration_s": 1.0,
        "message": message,
    }


def test_gate_outcomes_pass_fail_and_not_run():
    tests = [
        _test("host_state", "passed"),
        _test("host_state", "passed"),
        _test("collecting", "passed"),
        _test("restart", "failed", "AssertionError: service not back\nmore", name="test_restart"),
        _test("network", "skipped", "no API host names"),
    ]
    outcomes = gate_outcomes(tests)
    assert outcomes["host_state"] == GateOutcome(PASS)
    assert outcomes["collecting"] == GateOutcome(PASS)
    assert outcomes["restart"].status == FAIL
    assert outcomes["restart"].reason == "test_restart failed: AssertionError: service not back"
    assert outcomes["network"].status == FAIL  # a skipped gate proved nothing
    assert outcomes["upload"].status == NOT_RUN


# ---------------------------------------------------------------- manifest and report


def _manifest(decision):
    evidence = {
        "tests": [_test(g, "passed") for g in GATES],
        "gates": {
            "restart": {
                "commands": [
                    {
                        "t": "2026-11-21T10:00:00.000Z",
                        "where": "host",
                        "gate": "restart",
                        "cmd": "systemctl kill -s SIGKILL orderbooks-collector",
                        "rc": 0,
                        "duration_s": 0.1,
                        "stdout": "",
                        "stderr": "",
                    }
                ],
                "facts": {"sealed_before": 3, "waits": {"service back": 1.2}},
            }
        },
    }
    return build_manifest(
        decision=decision,
        started_at="2026-11-21T10:00:00.000Z",
        finished_at="2026-11-21T10:03:00.000Z",
        duration_s=180.0,
        inventory="inventory.ini",
        target={
            "name": "vps",
            "hosts": ["vps"],
            "reachable": True,
            "disposable": True,
            "disposable_evidence": ["systemd-detect-virt says systemd-nspawn"],
            "error": None,
        },
        host_facts={
            "os": "Debian GNU/Linux 12 (bookworm)",
            "kernel": "6.1",
            "python": "3.11.2",
            "orderbooks_version": "0.1.0",
            "release": "0.1.0",
            "rclone_version": "v1.60.1",
            "systemd_version": "252",
            "virtualization": "systemd-nspawn",
            "free_disk": {"path": "/var/lib/orderbooks", "free_bytes": 1, "total_bytes": 2},
        },
        commands=[
            {
                "t": "2026-11-21T10:00:00.000Z",
                "where": "controller",
                "gate": None,
                "cmd": "pytest gate/src/gate/gates",
                "rc": 0,
                "duration_s": 170.0,
            }
        ],
        evidence=evidence,
        outcomes=gate_outcomes(evidence["tests"]),
        files=[
            {
                "path": "raw/2026-11-21/10/a.jsonl.gz",
                "bytes": 10,
                "sha256": "a" * 64,
                "rows": 4,
                "recovered": True,
                "manifest_sha256_matches": True,
            }
        ],
        quality={"source": "manifests", "summary": {"rows": 4}},
        soak={"completed": False, "detail": "0/24 hours", "hours_required": 24, "hours_covered": 0},
        risks=["disposable VPS only"],
    )


def test_manifest_matches_schema_and_report_leads_with_verdict(tmp_path):
    decision = decide(reachable=True, disposable=True, gates=ALL_PASS, soak_completed=False)
    manifest = _manifest(decision)
    validate_manifest(manifest)
    folder = write_report(manifest, tmp_path, epoch_s=1_800_000_000)
    assert folder.name == "20270115T080000Z"
    written = json.loads((folder / "manifest.json").read_text())
    assert written["verdict"] == REHEARSAL_PASS
    validate_manifest(written)
    text = (folder / "report.md").read_text()
    assert text.splitlines()[0] == "# Production gate: REHEARSAL_PASS"
    assert "`BLOCKED_NEEDS_VPS_ACCESS`" in text.split("| gate |")[0]
    # report.md is one screen; the command log and raw outputs are in the appendix beside it
    assert len(text.splitlines()) <= 40
    assert "systemctl kill -s SIGKILL orderbooks-collector" not in text
    assert "(appendix.md)" in text
    appendix = (folder / "appendix.md").read_text()
    assert "systemctl kill -s SIGKILL orderbooks-collector" in appendix
    assert "a" * 64 in appendix
    # a second report in the same second gets its own folder
    assert write_report(manifest, tmp_path, epoch_s=1_800_000_000) != folder


def test_schema_rejects_an_unknown_verdict_and_a_missing_gate():
    decision = decide(reachable=True, disposable=True, gates=ALL_PASS, soak_completed=False)
    manifest = _manifest(decision)
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(dict(manifest, verdict="READY"))
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(dict(manifest, gates=manifest["gates"][:4]))
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(dict(manifest, files=[{"path": "x", "bytes": 1, "sha256": "nothex"}]))


def test_failed_report_names_the_gate():
    gates = dict(ALL_PASS, collecting=GateOutcome(FAIL, "test_rows failed: no rows for series 10684"))
    decision = decide(reachable=True, disposable=True, gates=gates, soak_completed=False)
    manifest = _manifest(decision)
    validate_manifest(manifest)
    text = render_markdown(manifest)
    assert text.startswith("# Production gate: FAIL")
    assert "gate collecting FAIL: test_rows failed: no rows for series 10684" in text
    summary = render_summary(manifest)
    assert summary.startswith("# Production gate: FAIL")
    assert "- gate collecting FAIL: test_rows failed: no rows for series 10684" in summary
    failed = {"status": "FAIL", "reason": "test_rows failed: no | rows", "tests": [], "facts": {}}
    assert decided_by(failed) == "test_rows failed: no / rows"


def test_summary_names_the_evidence_of_a_passing_gate():
    gate = {
        "status": "PASS",
        "reason": "",
        "tests": [{"outcome": "passed"}, {"outcome": "passed"}],
        "facts": {"newest_row_age_s": 1.5, "partials": ["/a", "/b", "/c", "/d"], "sealed_files": 3},
    }
    assert decided_by(gate) == "2/2 tests passed; newest_row_age_s=1.5; sealed_files=3"


def test_report_shows_the_soak_report_it_considered():
    decision = decide(reachable=True, disposable=True, gates=ALL_PASS, soak_completed=False)
    manifest = _manifest(decision)
    manifest["soak"]["report"] = {
        "completed": False,
        "detail": "soak report: mode inventory, verdict PASS, 270.0 s -- does not count: 270.0 s < 86400 s",
        "path": "reports/soak-20261121T130154Z/soak.json",
        "found": "newest soak report of this host",
    }
    validate_manifest(manifest)
    soak_section = render_markdown(manifest).split("## 24-hour soak")[1].split("## Remaining risks")[0]
    assert (
        "Soak report (newest soak report of this host): `reports/soak-20261121T130154Z/soak.json`: "
        "soak report: mode inventory, verdict PASS, 270.0 s -- does not count" in soak_section
    )
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(dict(manifest, soak=dict(manifest["soak"], report={"completed": True})))


# ---------------------------------------------------------------- runner helpers (pure parts)

from gate.summary import file_table, manifest_quality, risks_for, soak_from  # noqa: E402
from gate.verify_host import newest_soak_report  # noqa: E402


def _listing():
    manifest = {
        "sha256": "b" * 64,
        "rows": 10,
        "recovered": True,
        "rows_per_series": {"10684": 6, "41": 4},
        "first_recv_ms": 1000,
        "last_recv_ms": 9000,
        "gaps": [
            {"start_ms": 1000, "end_ms": 3500, "cause": "restart", "count": 1},
            {"start_ms": 4000, "end_ms": 4000, "cause": "connect", "count": 3},
        ],
    }
    return {
        "sealed": [
            {"path": "raw/x.jsonl.gz", "bytes": 5, "sha256": "b" * 64, "manifest": manifest},
            {"path": "raw/y.jsonl.gz", "bytes": 7, "sha256": "c" * 64, "manifest": None},
        ],
        "partials": [{"path": "raw/z.jsonl.gz.partial"}],
        "quarantine": [],
    }


def test_file_table_flags_a_missing_or_different_manifest():
    table = file_table(_listing())
    assert [(f["path"], f["manifest_sha256_matches"], f["rows"]) for f in table] == [
        ("raw/x.jsonl.gz", True, 10),
        ("raw/y.jsonl.gz", False, None),
    ]


def test_manifest_quality_sums_rows_and_gaps():
    summary = manifest_quality(_listing())
    assert summary["rows"] == 10
    assert summary["rows_per_series"] == {"10684": 6, "41": 4}
    assert summary["gaps_by_cause"] == {
        "connect": {"gaps": 1, "seconds": 0.0},
        "restart": {"gaps": 1, "seconds": 2.5},
    }
    assert summary["recovered_files"] == 1 and summary["open_partials"] == 1


def test_soak_from_a_young_host_is_not_complete():
    soak = soak_from(_listing(), now_ms=10_000)
    assert soak["completed"] is False and soak["hours_covered"] == 0


def test_risks_name_the_disposable_host_the_simulator_and_the_stand_in_remote():
    risks = risks_for(
        disposable=True,
        facts={"rclone_remotes": "standin: sftp"},
        settings={"gamma_url": "http://gamma.polysim.test:1/gamma", "clob_url": "http://x/clob"},
        decision_reasons=["gate upload FAIL: x"],
        soak={"completed": False, "detail": "0/24"},
    )
    text = "\n".join(risks)
    assert "disposable local VPS" in text
    assert "polled a simulator" in text
    assert "stand-in remote" in text
    assert "Failed: gate upload FAIL: x" in text
    real = risks_for(
        disposable=False,
        facts={"rclone_remotes": "gdrive: drive"},
        settings={"gamma_url": "https://gamma-api.polymarket.com", "clob_url": "https://clob.polymarket.com"},
        decision_reasons=[],
        soak={"completed": True, "detail": "24/24"},
    )
    assert not any(
        "disposable local VPS" in r or "polled a simulator" in r or "stand-in remote" in r for r in real
    )


@pytest.mark.parametrize(
    ("document", "completed"),
    [
        ({"kind": "orderbooks.soak", "mode": "inventory", "verdict": "PASS", "duration_s": 86_400}, True),
        ({"kind": "orderbooks.soak", "mode": "local", "verdict": "PASS", "duration_s": 90_000}, False),
        ({"kind": "orderbooks.soak", "mode": "inventory", "verdict": "FAIL", "duration_s": 90_000}, False),
        ({"kind": "orderbooks.soak", "mode": "inventory", "verdict": "PASS", "duration_s": 1800}, False),
        ({"kind": "orderbooks.quality"}, False),
        ([], False),
    ],
)
def test_soak_report_counts_only_a_passed_24_hour_soak_of_a_host(document, completed):
    assert soak_report_status(document)["completed"] is completed


def test_soak_report_counts_only_for_the_host_it_soaked():
    document = {
        "kind": "orderbooks.soak",
        "mode": "inventory",
        "verdict": "PASS",
        "duration_s": 86_400,
        "host": {"name": "vps-soak", "disposable_vps": True},
    }
    assert soak_report_status(document, "vps-soak")["completed"] is True
    other = soak_report_status(document, "vps1")
    assert other["completed"] is False
    assert "soaked host 'vps-soak', not 'vps1'" in other["detail"]
    assert soak_report_status({**document, "host": None}, "vps1")["completed"] is False


def test_newest_soak_report_of_the_host_is_found_and_others_are_not(tmp_path):
    def write(stamp, **fields):
        folder = tmp_path / f"soak-{stamp}"
        folder.mkdir()
        document = {"kind": "orderbooks.soak", "mode": "inventory", "verdict": "PASS", **fields}
        (folder / "soak.json").write_text(json.dumps(document))
        return folder / "soak.json"

    assert newest_soak_report(tmp_path, "vps1") is None
    older = write("20261101T000000Z", host={"name": "vps1"})
    write("20261102T000000Z", host={"name": "vps-soak"})
    write("20261103T000000Z", mode="local", host={"name": "vps1"})
    (tmp_path / "soak-20261104T000000Z").mkdir()
    (tmp_path / "soak-20261104T000000Z" / "soak.json").write_text("{not json")
    assert newest_soak_report(tmp_path, "vps1") == older
    newer = write("20261105T000000Z", host={"name": "vps1"}, verdict="NEEDS_REVIEW")
    assert newest_soak_report(tmp_path, "vps1") == newer
    assert newest_soak_report(tmp_path, "vps-soak").parent.name == "soak-20261102T000000Z"
