"""soak_report: verify output parsing, per-fault longest gap, and the summary of an inventory soak."""

from __future__ import annotations

from harness.soak_report import longest_gap_s, parse_verify_output, render_summary, verify_summary

T0 = 1_800_000_000_000


def test_verify_output_is_parsed_or_reported_missing():
    assert parse_verify_output(0, '{"ok": true, "counts": {"files": 2}}') == (
        0,
        {"ok": True, "counts": {"files": 2}},
    )
    assert parse_verify_output(1, "Traceback ...") == (1, None)
    assert parse_verify_output(0, "[1, 2]") == (0, None)


def test_verify_summary_keeps_the_first_twenty_problems():
    summary = verify_summary(
        1, {"ok": False, "counts": {"files": 30}, "problems": [str(i) for i in range(30)]}
    )
    assert summary["exit"] == 1 and summary["ok"] is False
    assert summary["problems"] == [str(i) for i in range(20)]
    assert verify_summary(3, None) == {"exit": 3, "ok": None, "counts": None, "problems": None}


def test_longest_gap_overlapping_a_fault_with_slack():
    fault = {"start_ms": T0 + 10_000, "end_ms": T0 + 11_000}
    gaps = [
        {"start_ms": T0 + 9_800, "end_ms": T0 + 12_300},  # 2.5 s, overlaps
        {"start_ms": T0 + 15_500, "end_ms": T0 + 16_000},  # inside the 5 s slack
        {"start_ms": T0 + 30_000, "end_ms": T0 + 60_000},  # far away: ignored
    ]
    assert longest_gap_s(fault, gaps, 5_000) == 2.5
    assert longest_gap_s(fault, gaps[2:], 5_000) is None


def manifest(**extra) -> dict:
    base = {
        "stamp": "20261121T114313Z",
        "verdict": "PASS",
        "mode": "inventory",
        "duration_s": 1800.0,
        "started_at": "2026-11-21T11:43:15.000Z",
        "finished_at": "2026-11-21T12:13:16.000Z",
        "interval_s": 1.0,
        "seed": 1,
        "coverage_pct": 99.93,
        "min_coverage_pct": 99.5,
        "verify": {"exit": 0, "ok": True, "counts": {"files": 3}},
        "disk_pressure": {"method": "tmpfs_ballast", "note": "tmpfs"},
        "data_dir": ".cache/soak/20261121T114313Z/data",
        "reasons": [],
        "faults": [
            {
                "kind": "sigkill", "start": "2026-11-21T11:50:00.000Z", "end": "2026-11-21T11:50:01.300Z",
                "expected_causes": ["restart"], "gaps_overlapping": 10, "gaps_with_expected_cause": 10,
                "longest_gap_s": 2.1, "records_with_expected_class": {"restart": 2}, "visible": True,
                "gap_required": True,
                "detail": {"old_pid": 1066, "new_pid": 1101, "active_again_after_ms": 1300},
            }
        ],
    }  # fmt: skip
    base.update(extra)
    return base


def test_summary_of_an_inventory_soak_names_the_host_and_the_restart():
    text = render_summary(
        manifest(
            inventory=".vps/soak/inventory.ini",
            host={
                "name": "vps-soak",
                "facts": {
                    "os": "Debian GNU/Linux 12 (bookworm)",
                    "virtualization": "systemd-nspawn",
                    "release": "20261121T112000Z",
                },
                "clock_offset_ms": 3,
                "service_restored": True,
            },
            host_verify={"exit": 0, "ok": True, "counts": {"files": 3}},
        )
    )
    assert text.startswith("# Soak 20261121T114313Z: PASS")
    assert "- host: vps-soak (`.vps/soak/inventory.ini`): Debian GNU/Linux 12 (bookworm)" in text
    assert "service restored: True" in text
    assert "- verify on the host: exit 0, ok True" in text
    row = "| sigkill | 2026-11-21T11:50:00.000Z | 2026-11-21T11:50:01.300Z | restart | 10 | 10 | 2.1 s |"
    assert row in text
    assert '"active_again_after_ms": 1300' in text


def test_summary_of_a_local_soak_has_no_host_lines():
    text = render_summary(manifest(mode="local"))
    assert "- host:" not in text and "verify on the host" not in text
